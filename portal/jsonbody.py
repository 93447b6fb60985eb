"""Reading a JSON request body sent by another system (the carrier, a payment gateway).

`json.loads` alone takes more than such a body should be able to carry: nesting deep
enough to raise RecursionError (a 500), bytes in UTF-16 or UTF-32, NaN and Infinity, and
strings with NUL or lone surrogates. The last three parse in Python but PostgreSQL's
jsonb refuses them, so the insert of the event would fail (another 500) after all the
checks had passed. Everything here is refused as a BadRequestBody, which views answer
with a 400.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

# Deeper than any callback or webhook event we take (a Stripe event is about 8 deep).
DEFAULT_MAX_DEPTH = 32

# What jsonb cannot hold in a string: NUL, and a surrogate not paired into a character.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class EdgeSchema(BaseModel):
    """The base of every schema an outside body is checked with (carrier/schemas.py,
    billing/gateway_schemas.py): strict types (a number is not a string), fields we do
    not know ignored (a newer sender is still understood), frozen once read."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


def first_error(exc: ValidationError) -> str:
    """The first problem, said briefly: where it is and what is wrong (never the value,
    which may be 100 KB)."""
    error = exc.errors(include_url=False, include_input=False, include_context=False)[0]
    where = ".".join(str(part) for part in error["loc"]) or "body"
    return f"{where}: {error['msg']}"


class BadRequestBody(ValueError):
    """The body is not a JSON object we can read and store; the message says why."""


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses as inf
        raise BadRequestBody("a number is too large")
    return value


def _refuse_constant(name: str) -> Any:
    raise BadRequestBody(f"{name} is not JSON")


def json_object_from_body(body: bytes, *, max_depth: int = DEFAULT_MAX_DEPTH) -> dict[str, Any]:
    """The body as a JSON object (a dict), or BadRequestBody: not UTF-8, not JSON, not an
    object, nested deeper than `max_depth`, or holding what the database cannot store."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequestBody("body is not UTF-8") from None
    try:
        data = json.loads(text, parse_float=_finite_float, parse_constant=_refuse_constant)
    except RecursionError:
        raise BadRequestBody("body is nested too deep") from None
    except BadRequestBody:
        raise
    except ValueError:  # JSONDecodeError, and an integer of more than 4300 digits
        raise BadRequestBody("body is not JSON") from None
    if not isinstance(data, dict):
        raise BadRequestBody("body is not a JSON object")
    _check(data, max_depth=max_depth)
    return data


def _check(data: dict[str, Any], *, max_depth: int) -> None:
    """Walk the parsed body without recursion: its depth, and every string in it."""
    pending: list[tuple[Any, int]] = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, str):
            if _UNSTORABLE.search(value):
                raise BadRequestBody("body has a character that cannot be stored")
            continue
        if depth > max_depth:
            raise BadRequestBody("body is nested too deep")
        if isinstance(value, dict):
            for key, item in value.items():
                if _UNSTORABLE.search(key):
                    raise BadRequestBody("body has a character that cannot be stored")
                if isinstance(item, dict | list | str):
                    pending.append((item, depth + 1))
        elif isinstance(value, list):
            pending.extend((item, depth + 1) for item in value
                           if isinstance(item, dict | list | str))
