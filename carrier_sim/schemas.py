"""What the simulator accepts in a request body, as pydantic schemas.

Strict types (a number is not a string, a flag is not a number), bounded strings and
numbers: a request that does not fit is answered, never a 500, and changes nothing.
ES2+ turns the first problem into an SGP.22 status code (`es2_parse`), the bundle and
control APIs into a 400 `invalid_request` naming the field (`api_parse`). Fields a
schema does not name are ignored, as SGP.22 asks of an ES2+ function provider.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import ErrorDetails

from . import status_codes as sc
from .identifiers import eid_validate, iccid_normalize, matching_id_validate
from .ledger import BundleError
from .status_codes import Es2Error

Schema = TypeVar("Schema", bound=BaseModel)

MAX_TEXT = 128
MAX_VALIDITY_DAYS = 3650
# One extension moves an end at most a year: goodwill, not a free plan.
MAX_EXTEND_DAYS = 366
MAX_QUANTITY = 10**15
MAX_BATCH = 100
MAX_PROFILES = 1000
# One tick moves the clock at most this far; and the clock never passes CLOCK_LIMIT
# (clock.py), where dates could no longer be written.
MAX_ADVANCE_SECONDS = 10 * 366 * 86400.0
DEFAULT_PROFILE_TYPE = "default"


class _Schema(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


# ES2+ parameters (SGP.22 5.3) -------------------------------------------------------

Iccid = Annotated[str, BeforeValidator(iccid_normalize)]
Eid = Annotated[str, BeforeValidator(eid_validate)]
MatchingId = Annotated[str, BeforeValidator(matching_id_validate)]
ProfileType = Annotated[str, Field(min_length=1, max_length=64)]
# confirmationCode is a hash (64 hex digits), smdsAddress an FQDN: both far below this.
Parameter = Annotated[str, Field(max_length=255)]


class DownloadOrderRequest(_Schema):
    # In the order the fields were always checked, so the first problem found is the same.
    eid: Eid | None = None
    profileType: ProfileType | None = None
    iccid: Iccid | None = None


class ConfirmOrderRequest(_Schema):
    iccid: Iccid
    releaseFlag: bool
    eid: Eid | None = None
    matchingId: MatchingId | None = None
    confirmationCode: Parameter | None = None
    smdsAddress: Parameter | None = None


class CancelOrderRequest(_Schema):
    iccid: Iccid
    finalProfileStatusIndicator: Literal["Available", "Unavailable"]
    eid: Eid | None = None
    matchingId: Parameter | None = None


class ReleaseProfileRequest(_Schema):
    iccid: Iccid


# The SGP.22 subject of a malformed parameter; any other is "function" (1.6/2.1).
_ES2_FIELD_CODES = {
    "iccid": sc.ICCID_INVALID,
    "eid": sc.EID_INVALID,
    "profileType": sc.PROFILE_TYPE_INVALID,
    "matchingId": sc.MATCHING_ID_INVALID,
}


def _message(error: ErrorDetails) -> str:
    if error["type"] == "value_error":  # our own check: its message as it was raised
        return str(error.get("ctx", {}).get("error", error["msg"]))
    return error["msg"]


def _first(exc: ValidationError) -> tuple[str, ErrorDetails]:
    """The error to report: a missing parameter first, as SGP.22 checks presence first."""
    errors = exc.errors(include_url=False, include_input=False)
    error = next((e for e in errors if e["type"] == "missing"), errors[0])
    field = str(error["loc"][0]) if error["loc"] else "body"
    return field, error


def es2_parse(schema: type[Schema], body: dict[str, Any]) -> Schema:
    """The function's parameters, or Es2Error with the SGP.22 code of the first problem.
    A parameter sent as null counts as absent."""
    try:
        return schema.model_validate({k: v for k, v in body.items() if v is not None})
    except ValidationError as exc:
        field, error = _first(exc)
        if error["type"] == "missing":
            raise Es2Error(sc.PARAMETER_MISSING, f"{field} is missing", field) from None
        code = _ES2_FIELD_CODES.get(field, sc.PARAMETER_INVALID)
        raise Es2Error(code, f"{field}: {_message(error)}", field) from None


# Bundle API ------------------------------------------------------------------------

Text = Annotated[str, Field(min_length=1, max_length=MAX_TEXT), AfterValidator(_not_blank)]


class BundleApplyRequest(_Schema):
    # In the order the fields were always checked, so the first problem found is the same.
    kind: Literal["full", "topup"]
    # Required, but null: an unlimited bundle.
    initial_quantity_bytes: Annotated[int, Field(ge=1, le=MAX_QUANTITY)] | None
    reference: Text
    bundle_code: Text
    validity_days: Annotated[int, Field(ge=1, le=MAX_VALIDITY_DAYS)]


class BundleExtendRequest(_Schema):
    # The caller's reference of this extension: the same one again extends once.
    reference: Text
    days: Annotated[int, Field(ge=1, le=MAX_EXTEND_DAYS)]


class BundlesApplyRequest(_Schema):
    items: Annotated[list[Any], Field(min_length=1, max_length=MAX_BATCH)]


class BundlesQueryRequest(_Schema):
    # Every ICCID well formed, or the whole call is refused: a read has no partial answer
    # worth giving for a caller that sends garbage.
    iccids: Annotated[list[Iccid], Field(min_length=1, max_length=MAX_BATCH)]


# Control ---------------------------------------------------------------------------

class TickRequest(_Schema):
    advance_seconds: Annotated[float, Field(ge=0, le=MAX_ADVANCE_SECONDS,
                                            allow_inf_nan=False)] = 0.0


class ProfilesRequest(_Schema):
    count: Annotated[int, Field(ge=1, le=MAX_PROFILES)] = 1
    profile_type: ProfileType = DEFAULT_PROFILE_TYPE
    # Already on a phone (Installed, with an EID): for load tests that need many running
    # eSIMs without driving each through ES2+ and a download.
    installed: bool = False


class DownloadRequest(_Schema):
    fail: bool = False


class ConsumeRequest(_Schema):
    amount: Annotated[int, Field(ge=0, le=MAX_QUANTITY, alias="bytes")] = 0


class AgeRequest(_Schema):
    seconds: Annotated[int, Field(ge=0, le=int(MAX_ADVANCE_SECONDS))] = 0


def _callback_url(value: Any) -> Any:
    if isinstance(value, str) and value:
        if not value.isascii():
            raise ValueError("callback_url must be ASCII (a host in its xn-- form)")
        urlsplit(value).port  # noqa: B018 - raises ValueError for a port out of range
    return value


# Finite floats only: int(inf) in the settings' own check raises OverflowError.
SettingValue = (Annotated[str, Field(max_length=2048)] | int
                | Annotated[float, Field(allow_inf_nan=False)] | bool | None)
_CONFIG_CHANGES = TypeAdapter(
    dict[Annotated[str, Field(max_length=64)], SettingValue], config=ConfigDict(strict=True))


def config_changes_parse(body: dict[str, Any]) -> dict[str, Any]:
    """Settings to change: short names, plain values (the settings check each further)."""
    try:
        changes = _CONFIG_CHANGES.validate_python(body)
        _callback_url(changes.get("callback_url"))
    except ValidationError as exc:
        _field, error = _first(exc)
        raise BundleError(400, "invalid_request", f"setting: {_message(error)}") from None
    except ValueError as exc:
        raise BundleError(400, "invalid_request", str(exc), "callback_url") from None
    return changes


def api_parse(schema: type[Schema], body: Any) -> Schema:
    """The request's fields, or a 400 BundleError naming the first field that is wrong."""
    try:
        return schema.model_validate(body)
    except ValidationError as exc:
        field, error = _first(exc)
        if error["type"] == "missing":
            message = f"{field} is required"
            if field == "initial_quantity_bytes":
                message += " (null means unlimited)"
        else:
            message = f"{field}: {_message(error)}"
        raise BundleError(400, "invalid_request", message, field) from None


class BodyError(ValueError):
    """The body is not a JSON object the simulator reads; the message says why."""


MAX_DEPTH = 32  # far deeper than any request here; json.dumps of it stays well in bounds


def json_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object, or BodyError: not UTF-8 (json.loads would take UTF-16
    too), not JSON, not an object, or nested deeper than MAX_DEPTH (RecursionError from
    json.loads, or later from json.dumps of the stored call)."""
    try:
        body = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError too
        raise BodyError("body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BodyError("body must be a JSON object")
    pending: list[tuple[Any, int]] = [(body, 1)]
    while pending:
        value, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise BodyError("body is nested too deep")
        children = value.values() if isinstance(value, dict) else value
        pending.extend((child, depth + 1) for child in children
                       if isinstance(child, dict | list))
    return body
