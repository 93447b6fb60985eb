"""Control endpoints for tests and operators: health, knobs, time, the phone.

No authentication: they exist to be driven by a test suite or an operator's
shell, and are switched off as a whole with CARRIER_SIM_CONTROL=0 (except
/sim/health, which a container health check needs).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, jsonify, request

from . import device, ledger, smdp, store
from .bundles import error_response, profile_json
from .clock import ClockLimitError, iso
from .config import ConfigError
from .identifiers import InvalidIdentifier, eid_make, iccid_normalize
from .ledger import BundleError
from .schemas import (
    AgeRequest,
    BodyError,
    ConsumeRequest,
    DownloadRequest,
    ProfilesRequest,
    Schema,
    TickRequest,
    api_parse,
    config_changes_parse,
    json_object,
)
from .simulator import get_sim

bp = Blueprint("control", __name__, url_prefix="/sim")


@bp.before_request
def _enabled() -> Response | None:
    if request.endpoint != "control.health" and not get_sim().settings.control_enabled:
        return error_response(404, "not_found", "control endpoints are disabled")
    return None


@bp.errorhandler(BundleError)
def _refused(error: BundleError) -> Response:
    return error_response(error.status, error.code, error.message, error.field)


def _body() -> dict[str, Any]:
    """The JSON object sent, or {} when there is no body."""
    raw = request.get_data()
    try:
        return json_object(raw) if raw.strip() else {}
    except BodyError as exc:
        raise BundleError(400, "invalid_request", str(exc), "body") from None


def _options(schema: type[Schema]) -> Schema:
    return api_parse(schema, _body())


def _iccid(raw: str) -> str:
    try:
        return iccid_normalize(raw)
    except InvalidIdentifier as exc:
        raise BundleError(400, "invalid_request", str(exc), "iccid") from None


@bp.get("/health")
def health() -> Response:
    return jsonify({"status": "ok"})


@bp.route("/config", methods=["GET", "POST"])
def config() -> Response:
    sim = get_sim()
    if request.method == "POST":
        try:
            sim.configure(config_changes_parse(_body()))
        except ConfigError as exc:
            raise BundleError(400, "invalid_request", str(exc)) from None
    return jsonify(sim.settings.public())


@bp.post("/profiles")
def profiles_create() -> Response:
    """Put Available profiles in the pool, for downloadOrder with a given ICCID."""
    sim = get_sim()
    params = _options(ProfilesRequest)
    with sim.store.transaction() as conn:
        now = sim.clock.now()
        iccids = [
            smdp.profile_create(conn, profile_type=params.profile_type, now=now)
            for _ in range(params.count)
        ]
        if params.installed:
            conn.executemany(
                "UPDATE profiles SET state = 'Installed', eid = ?, updated_at = ? WHERE iccid = ?",
                [(eid_make(), now, iccid) for iccid in iccids],
            )
    response = jsonify({"iccids": iccids})
    response.status_code = 201
    return response


@bp.post("/profiles/<iccid>/download")
def profile_download(iccid: str) -> Response:
    """The phone downloads and installs the profile now ({"fail": true}: it fails)."""
    sim = get_sim()
    iccid = _iccid(iccid)
    fail = _options(DownloadRequest).fail
    with sim.store.transaction() as conn:
        profile = store.profile_get(conn, iccid)
        if profile is None:
            raise BundleError(404, "unknown_iccid", f"no profile with ICCID {iccid}")
        at = sim.clock.now()
        try:
            if fail:
                device.device_fail(conn, iccid=iccid, at=at, settings=sim.settings)
            else:
                if profile["state"] == "Released":
                    device.device_download(conn, iccid=iccid, at=at, settings=sim.settings)
                device.device_install(conn, iccid=iccid, at=at, settings=sim.settings)
        except device.DeviceError as exc:
            raise BundleError(409, "invalid_state", str(exc)) from None
        profile = store.profile_get(conn, iccid)
        assert profile is not None  # read above in this transaction; profiles are never deleted
    sim.engine.deliver()
    return jsonify(profile_json(profile))


@bp.post("/profiles/<iccid>/consume")
def profile_consume(iccid: str) -> Response:
    sim = get_sim()
    iccid = _iccid(iccid)
    amount = _options(ConsumeRequest).amount
    with sim.store.transaction() as conn:
        if store.profile_get(conn, iccid) is None:
            raise BundleError(404, "unknown_iccid", f"no profile with ICCID {iccid}")
        ledger.usage_consume(
            conn,
            iccid=iccid,
            amount=amount,
            now=sim.clock.now(),
            rate=sim.settings.usage_bytes_per_second,
        )
        bundles = [ledger.bundle_json(conn, row, as_of=sim.clock.now())
                   for row in store.bundles_of(conn, iccid)]
    sim.engine.deliver()
    return jsonify({"iccid": iccid, "bundles": bundles})


@bp.post("/profiles/<iccid>/hold")
def profile_hold(iccid: str) -> Response:
    """The phone does not scan this Released profile until `/download` says so (an eSIM
    left ready to install, whatever CARRIER_SIM_INSTALL_AFTER_SECONDS is)."""
    sim = get_sim()
    iccid = _iccid(iccid)
    with sim.store.transaction() as conn:
        profile = store.profile_get(conn, iccid)
        if profile is None:
            raise BundleError(404, "unknown_iccid", f"no profile with ICCID {iccid}")
        if profile["state"] != "Released":
            raise BundleError(409, "invalid_state", f"profile is {profile['state']}, not Released")
        conn.execute("UPDATE profiles SET download_due_at = NULL WHERE iccid = ?", (iccid,))
        profile = store.profile_get(conn, iccid)
        assert profile is not None  # read above in this transaction; profiles are never deleted
    return jsonify(profile_json(profile))


@bp.post("/profiles/<iccid>/age")
def profile_age(iccid: str) -> Response:
    """The eSIM's running bundle started `seconds` earlier: its start and end move back
    and the data used so far is kept, so a plan is days old at once while the clock of
    every other eSIM stays. A bundle whose end is now past ends there (expired), and the
    next queued one starts then."""
    sim = get_sim()
    iccid = _iccid(iccid)
    seconds = _options(AgeRequest).seconds
    rate = sim.settings.usage_bytes_per_second
    with sim.store.transaction() as conn:
        if store.profile_get(conn, iccid) is None:
            raise BundleError(404, "unknown_iccid", f"no profile with ICCID {iccid}")
        now = sim.clock.now()
        ledger.usage_advance(conn, iccid=iccid, now=now, rate=rate)
        bundle = store.bundle_active(conn, iccid)
        if bundle is None:
            raise BundleError(409, "no_active_bundle", "the eSIM has no active bundle")
        conn.execute(
            "UPDATE bundles SET start_at = start_at - ?, end_at = end_at - ?, updated_at = ?"
            " WHERE id = ?",
            (seconds, seconds, now, bundle["id"]),
        )
        ledger.usage_advance(conn, iccid=iccid, now=now, rate=rate)
        bundles = [ledger.bundle_json(conn, row, as_of=now)
                   for row in store.bundles_of(conn, iccid)]
    sim.engine.deliver()
    return jsonify({"iccid": iccid, "bundles": bundles})


@bp.post("/tick")
def tick() -> Response:
    sim = get_sim()
    try:
        summary = sim.engine.tick(advance_seconds=_options(TickRequest).advance_seconds)
    except ClockLimitError as exc:
        raise BundleError(400, "invalid_request", str(exc), "advance_seconds") from None
    return jsonify({**summary, "now": iso(sim.clock.now())})


@bp.post("/reset")
def reset() -> Response:
    get_sim().reset()
    return jsonify({"status": "reset"})


@bp.get("/callbacks")
def callbacks() -> Response:
    with get_sim().store.reading() as conn:
        rows = store.outbox_list(conn, request.args.get("status"))
    return jsonify(
        {
            "callbacks": [
                {
                    "id": row["id"],
                    "kind": row["kind"],
                    "path": row["path"],
                    "body": json.loads(row["body"]),
                    "status": row["status"],
                    "attempts": row["attempts"],
                    "last_status": row["last_status"],
                    "last_error": row["last_error"],
                    "created": iso(row["created_at"]),
                    "delivered": iso(row["delivered_at"]),
                }
                for row in rows
            ]
        }
    )
