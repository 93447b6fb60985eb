"""Bundle API, shaped like the reseller APIs (eSIM Go, Airalo partner API).

JSON in and out, authenticated with the `X-API-Key` header. Errors are
`{"error": {"code", "message", "field"}}` with a fitting HTTP status; 503 `busy`
(injected) and 5xx are the ones worth retrying.
"""

from __future__ import annotations

import hmac
import sqlite3
from typing import Any

from flask import Blueprint, Response, jsonify, request

from . import ledger, store
from .identifiers import InvalidIdentifier, iccid_normalize
from .ledger import BundleError
from .schemas import (
    MAX_TEXT,
    BodyError,
    BundleApplyRequest,
    BundleExtendRequest,
    BundlesApplyRequest,
    BundlesQueryRequest,
    api_parse,
    json_object,
)
from .simulator import get_sim

bp = Blueprint("bundles", __name__, url_prefix="/api/v1")


def error_response(status: int, code: str, message: str, field: str | None = None) -> Response:
    response = jsonify({"error": {"code": code, "message": message, "field": field}})
    response.status_code = status
    return response


@bp.errorhandler(BundleError)
def _refused(error: BundleError) -> Response:
    return error_response(error.status, error.code, error.message, error.field)


@bp.before_request
def _guard() -> Response | None:
    sim = get_sim()
    key = request.headers.get("X-API-Key", "")
    if not hmac.compare_digest(key.encode(), sim.settings.api_key.encode()):
        return error_response(401, "unauthorized", "missing or wrong X-API-Key")
    if sim.faults.busy(sim.settings):
        return error_response(503, "busy", "the carrier is busy, try again later")
    return None


def profile_json(profile: sqlite3.Row) -> dict[str, Any]:
    return {
        "iccid": profile["iccid"],
        "profile_state": profile["state"],
        "eid": profile["eid"],
        "suspended": bool(profile["suspended"]),
        "smdp_address": get_sim().settings.smdp_address,
        "matching_id": profile["matching_id"],
    }


def _iccid(raw: object) -> str:
    try:
        return iccid_normalize(raw)
    except InvalidIdentifier as exc:
        raise BundleError(400, "invalid_request", str(exc), "iccid") from None


def _profile(conn: sqlite3.Connection, iccid: str) -> sqlite3.Row:
    profile = store.profile_get(conn, iccid)
    if profile is None:
        raise BundleError(404, "unknown_iccid", f"no eSIM with ICCID {iccid}")
    return profile


def _json_object() -> dict[str, Any]:
    try:
        return json_object(request.get_data())
    except BodyError as exc:
        raise BundleError(400, "invalid_request", str(exc), "body") from None


def _apply_fields(params: BundleApplyRequest) -> dict[str, Any]:
    return {"reference": params.reference, "bundle_code": params.bundle_code,
            "kind": params.kind, "validity_days": params.validity_days,
            "quantity": params.initial_quantity_bytes}


@bp.post("/esims/<iccid>/bundles")
def bundle_apply(iccid: str) -> Response:
    sim = get_sim()
    iccid = _iccid(iccid)
    with sim.store.transaction() as conn:
        _profile(conn, iccid)
        fields = _apply_fields(api_parse(BundleApplyRequest, _json_object()))
        created, row = ledger.bundle_apply(
            conn,
            iccid=iccid,
            now=sim.clock.now(),
            rate=sim.settings.usage_bytes_per_second,
            **fields,
        )
        response = jsonify(ledger.bundle_json(conn, row, as_of=sim.clock.now()))
    response.status_code = 201 if created else 200
    return response


@bp.post("/bundles/apply")
def bundles_apply() -> Response:
    """Apply many bundles in one call, like the resellers' order endpoints: `{"items":
    [{"iccid", <the single apply's fields>}, ...]}` (at most 100). Each item is applied
    on its own, as the single call would, and answered in order with the status the
    single call would give and its bundle or its error."""
    sim = get_sim()
    items = api_parse(BundlesApplyRequest, _json_object()).items
    results = []
    with sim.store.transaction() as conn:
        now = sim.clock.now()
        for item in items:
            # Echoed back so the caller can match answers; only if it is a reference.
            reference = item.get("reference") if isinstance(item, dict) else None
            if not isinstance(reference, str) or len(reference) > MAX_TEXT:
                reference = None
            conn.execute("SAVEPOINT item")
            try:
                if not isinstance(item, dict):
                    raise BundleError(400, "invalid_request", "each item must be an object")
                iccid = _iccid(item.get("iccid"))
                _profile(conn, iccid)
                params = api_parse(BundleApplyRequest, item)
                created, row = ledger.bundle_apply(
                    conn, iccid=iccid, now=now, rate=sim.settings.usage_bytes_per_second,
                    **_apply_fields(params))
                results.append({"reference": reference, "status": 201 if created else 200,
                                "bundle": ledger.bundle_json(conn, row, as_of=now)})
                conn.execute("RELEASE SAVEPOINT item")
            except BundleError as error:
                conn.execute("ROLLBACK TO SAVEPOINT item")
                conn.execute("RELEASE SAVEPOINT item")
                results.append({"reference": reference, "status": error.status, "error": {
                    "code": error.code, "message": error.message, "field": error.field}})
    return jsonify({"results": results})


def _bundles_reported(conn: sqlite3.Connection, profile: sqlite3.Row) -> list[dict[str, Any]]:
    """The eSIM's bundles as the carrier reports them: states as they are, usage as of
    CARRIER_SIM_USAGE_LAG_SECONDS ago (each bundle's `usage_at` says when)."""
    sim = get_sim()
    as_of = sim.clock.now() - sim.settings.usage_lag_seconds
    rate = 0 if profile["suspended"] else sim.settings.usage_bytes_per_second
    return [ledger.bundle_json(conn, row, as_of=as_of, rate=rate)
            for row in store.bundles_of(conn, profile["iccid"])]


@bp.get("/esims/<iccid>/bundles")
def bundle_list(iccid: str) -> Response:
    iccid = _iccid(iccid)
    with get_sim().store.reading() as conn:
        bundles = _bundles_reported(conn, _profile(conn, iccid))
    return jsonify({"iccid": iccid, "bundles": bundles})


@bp.post("/bundles/query")
def bundles_query() -> Response:
    """The bundles of many eSIMs in one call: `{"iccids": [...]}` (1 to 100, each a well
    formed ICCID, else a 400 for the whole call). Answered in the same order with, for
    each, `{"iccid", "status": 200, "profile_state", "suspended", "bundles"}` as the
    single calls describe them, or `{"iccid", "status": 404, "error"}`. Reads only."""
    iccids = api_parse(BundlesQueryRequest, _json_object()).iccids
    results: list[dict[str, Any]] = []
    with get_sim().store.reading() as conn:
        for iccid in iccids:
            profile = store.profile_get(conn, iccid)
            if profile is None:
                results.append({"iccid": iccid, "status": 404, "error": {
                    "code": "unknown_iccid", "message": f"no eSIM with ICCID {iccid}",
                    "field": "iccids"}})
                continue
            results.append({"iccid": iccid, "status": 200, "profile_state": profile["state"],
                            "eid": profile["eid"], "suspended": bool(profile["suspended"]),
                            "bundles": _bundles_reported(conn, profile)})
    return jsonify({"results": results})


@bp.get("/esims/<iccid>")
def esim_detail(iccid: str) -> Response:
    iccid = _iccid(iccid)
    with get_sim().store.reading() as conn:
        profile = _profile(conn, iccid)
    return jsonify(profile_json(profile))


def _set_suspended(iccid: str, suspended: bool) -> Response:
    sim = get_sim()
    iccid = _iccid(iccid)
    with sim.store.transaction() as conn:
        _profile(conn, iccid)
        # Account for the data used up to this moment under the old setting.
        ledger.usage_advance(
            conn, iccid=iccid, now=sim.clock.now(), rate=sim.settings.usage_bytes_per_second
        )
        conn.execute(
            "UPDATE profiles SET suspended = ?, updated_at = ? WHERE iccid = ?",
            (int(suspended), sim.clock.now(), iccid),
        )
        profile = _profile(conn, iccid)
    return jsonify(profile_json(profile))


@bp.post("/esims/<iccid>/suspend")
def esim_suspend(iccid: str) -> Response:
    return _set_suspended(iccid, True)


@bp.post("/esims/<iccid>/resume")
def esim_resume(iccid: str) -> Response:
    return _set_suspended(iccid, False)


@bp.post("/bundles/<path:reference>/revoke")
def bundle_revoke(reference: str) -> Response:
    sim = get_sim()
    with sim.store.transaction() as conn:
        row = ledger.bundle_revoke(
            conn,
            reference=reference,
            now=sim.clock.now(),
            rate=sim.settings.usage_bytes_per_second,
        )
        return jsonify(ledger.bundle_json(conn, row, as_of=sim.clock.now()))


@bp.post("/bundles/<path:reference>/extend")
def bundle_extend(reference: str) -> Response:
    """Move a running bundle's end: `{"reference": <this extension's own reference>,
    "days": 1 to 366}`. 201 with the bundle when extended, 200 with it unchanged when
    this extension was made before; 404 `unknown_bundle`, 409 `bundle_not_active` |
    `not_extendable` | `reference_conflict` (the reference named another extension)."""
    sim = get_sim()
    params = api_parse(BundleExtendRequest, _json_object())
    with sim.store.transaction() as conn:
        extended, row = ledger.bundle_extend(
            conn,
            reference=reference,
            extension=params.reference,
            days=params.days,
            now=sim.clock.now(),
            rate=sim.settings.usage_bytes_per_second,
        )
        response = jsonify(ledger.bundle_json(conn, row, as_of=sim.clock.now()))
    response.status_code = 201 if extended else 200
    return response
