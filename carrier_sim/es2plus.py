"""ES2+ over HTTP (SGP.22 section 6): the operator-facing SM-DP+ endpoints.

Every answer is HTTP 200 with a JSON body whose header carries the
functionExecutionStatus, whatever went wrong - malformed JSON included - as the
spec asks of a function provider. The X-API-Key header stands in for the mutual
TLS that authenticates a real operator.

A call is remembered by (functionRequesterIdentifier, functionCallIdentifier,
function) together with its answer, inside the transaction that did the work:
the same call again gets the same answer and changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from . import smdp
from . import status_codes as sc
from .schemas import BodyError, json_object
from .simulator import get_sim
from .status_codes import Es2Error

log = logging.getLogger(__name__)

bp = Blueprint("es2plus", __name__, url_prefix="/gsma/rsp2/es2plus")

ADMIN_PROTOCOL = "gsma/rsp/v2.5.0"
# ASCII digits only: \d would take any script's digits, and the header is echoed back.
_PROTOCOL = re.compile(r"gsma/rsp/v(\d{1,3})\.(\d{1,3})\.(\d{1,3})", re.ASCII)
MAX_IDENTIFIER_LENGTH = 255

Function = Callable[..., dict[str, Any]]
FUNCTIONS: dict[str, Function] = {
    "downloadOrder": smdp.order_download,
    "confirmOrder": smdp.order_confirm,
    "cancelOrder": smdp.order_cancel,
    "releaseProfile": smdp.profile_release,
}


def _answer(body: dict[str, Any]) -> Response:
    response = jsonify(body)
    sent = request.headers.get("X-Admin-Protocol", "")
    response.headers["X-Admin-Protocol"] = sent if _supported(sent) else ADMIN_PROTOCOL
    return response


def _success(output: dict[str, Any]) -> dict[str, Any]:
    return {"header": {"functionExecutionStatus": {"status": "Executed-Success"}}, **output}


def _failed(error: Es2Error) -> dict[str, Any]:
    return {"header": {"functionExecutionStatus": error.execution_status()}}


def _supported(protocol: str) -> bool:
    match = _PROTOCOL.fullmatch(protocol.strip())
    return match is not None and match.group(1) == "2"


def _check_transport() -> None:
    settings = get_sim().settings
    key = request.headers.get("X-API-Key", "")
    if not hmac.compare_digest(key.encode(), settings.api_key.encode()):
        raise Es2Error(sc.REQUESTER_NOT_ALLOWED, "missing or wrong X-API-Key", "X-API-Key")
    protocol = request.headers.get("X-Admin-Protocol")
    if not protocol:
        raise Es2Error(sc.VERSION_MISSING, "X-Admin-Protocol header is missing", "X-Admin-Protocol")
    if not _supported(protocol):
        raise Es2Error(
            sc.VERSION_UNSUPPORTED, f"unsupported protocol {protocol!r}", "X-Admin-Protocol"
        )
    if request.mimetype != "application/json":
        raise Es2Error(sc.FORMAT_INVALID, "Content-Type must be application/json", "Content-Type")


def _read_body() -> dict[str, Any]:
    try:
        return json_object(request.get_data())
    except RequestEntityTooLarge:
        raise Es2Error(sc.FORMAT_INVALID, "request body is too large", "body") from None
    except BodyError as exc:
        raise Es2Error(sc.FORMAT_INVALID, f"request {exc}", "body") from None


def _caller(body: dict[str, Any]) -> tuple[str, str]:
    header = body.get("header")
    if header is None:
        raise Es2Error(sc.PARAMETER_MISSING, "header is missing", "header")
    if not isinstance(header, dict):
        raise Es2Error(sc.PARAMETER_INVALID, "header must be an object", "header")
    identifiers = []
    for name in ("functionRequesterIdentifier", "functionCallIdentifier"):
        value = header.get(name)
        if value is None or value == "":
            raise Es2Error(sc.PARAMETER_MISSING, f"header.{name} is missing", name)
        if not isinstance(value, str) or len(value) > MAX_IDENTIFIER_LENGTH:
            raise Es2Error(sc.PARAMETER_INVALID, f"header.{name} must be a short string", name)
        identifiers.append(value)
    return identifiers[0], identifiers[1]


def _digest(body: dict[str, Any]) -> str:
    content = {key: value for key, value in body.items() if key != "header"}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _execute(name: str, function: Function) -> Response:
    sim = get_sim()
    try:
        _check_transport()
        if sim.faults.busy(sim.settings):
            raise Es2Error(sc.BUSY, "the SM-DP+ is busy, try again later", name)
        body = _read_body()
        requester, call_id = _caller(body)
    except Es2Error as error:
        return _answer(_failed(error))
    digest = _digest(body)
    with sim.store.transaction() as conn:
        known = conn.execute(
            "SELECT request_digest, response FROM es2_calls"
            " WHERE requester = ? AND call_id = ? AND function = ?",
            (requester, call_id, name),
        ).fetchone()
        if known is not None:
            if known["request_digest"] != digest:
                reused = Es2Error(
                    sc.CALL_ID_REUSED,
                    "functionCallIdentifier was already used for a different request",
                    call_id,
                )
                return _answer(_failed(reused))
            return _answer(json.loads(known["response"]))
        # A savepoint lets a function fail half-way without keeping half its work,
        # while its Failed answer is still remembered for a retry.
        conn.execute("SAVEPOINT es2_function")
        try:
            answer = _success(function(conn, body=body, now=sim.clock.now(), settings=sim.settings))
            conn.execute("RELEASE es2_function")
        except Es2Error as error:
            conn.execute("ROLLBACK TO es2_function")
            conn.execute("RELEASE es2_function")
            answer = _failed(error)
        conn.execute(
            "INSERT INTO es2_calls (requester, call_id, function, request_digest, response,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (requester, call_id, name, digest, json.dumps(answer), sim.clock.now()),
        )
    return _answer(answer)


def _view(name: str, function: Function) -> Callable[[], Response]:
    def view() -> Response:
        return _execute(name, function)

    view.__name__ = name
    return view


for _name, _function in FUNCTIONS.items():
    bp.add_url_rule(f"/{_name}", view_func=_view(_name, _function), methods=["POST"])


@bp.errorhandler(Exception)
def _unexpected(error: Exception) -> Response:
    # Whatever escaped must still be answered in ES2+ form, HTTP 200.
    if isinstance(error, HTTPException):
        return _answer(_failed(Es2Error(sc.FORMAT_INVALID, error.description or str(error))))
    log.exception("ES2+ function failed unexpectedly")
    return _answer(_failed(Es2Error(sc.EXECUTION_ERROR, "internal error in the SM-DP+")))
