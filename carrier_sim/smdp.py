"""The SM-DP+ side of ES2+: the profile state machine and its four functions.

Available -> Allocated | Linked (downloadOrder) -> Confirmed | Released
(confirmOrder) -> Released (releaseProfile) -> Downloaded -> Installed (device).
cancelOrder takes any ordered, not yet downloaded profile (or one in Error)
back to Available or to Unavailable. Each function validates everything before
it writes, and raises Es2Error for a Failed answer.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from . import ledger, store
from . import status_codes as sc
from .config import Settings
from .device import download_schedule
from .identifiers import iccid_make, matching_id_make
from .schemas import (
    DEFAULT_PROFILE_TYPE,
    CancelOrderRequest,
    ConfirmOrderRequest,
    DownloadOrderRequest,
    ReleaseProfileRequest,
    es2_parse,
)
from .status_codes import Es2Error

__all__ = ["DEFAULT_PROFILE_TYPE", "order_cancel", "order_confirm", "order_download",
           "profile_create", "profile_release"]

ORDERED_STATES = ("Allocated", "Linked", "Confirmed", "Released")
Body = dict[str, Any]


def order_download(conn: sqlite3.Connection, *, body: Body, now: float, settings: Settings) -> Body:
    """ES2+.DownloadOrder (SGP.22 5.3.1): reserve a profile, optionally for an EID."""
    params = es2_parse(DownloadOrderRequest, body)
    eid, profile_type = params.eid, params.profileType
    if params.iccid is not None:
        profile = _profile(conn, params.iccid)
        iccid = profile["iccid"]
        if profile_type is not None and profile_type != profile["profile_type"]:
            raise Es2Error(
                sc.PROFILE_TYPE_MISMATCH,
                f"profile {iccid} is of type {profile['profile_type']!r}",
                profile_type,
            )
        if profile["state"] != "Available":
            raise Es2Error(sc.ICCID_NOT_AVAILABLE, f"profile is {profile['state']}", iccid)
    else:
        # The simulator's pool never runs dry: each order gets a fresh profile, so an
        # ICCID the portal once cancelled is never handed to another customer.
        iccid = profile_create(conn, profile_type=profile_type or DEFAULT_PROFILE_TYPE, now=now)
    conn.execute(
        "UPDATE profiles SET state = ?, eid = ?, updated_at = ? WHERE iccid = ?",
        ("Linked" if eid else "Allocated", eid, now, iccid),
    )
    return {"iccid": iccid}


def order_confirm(conn: sqlite3.Connection, *, body: Body, now: float, settings: Settings) -> Body:
    """ES2+.ConfirmOrder (SGP.22 5.3.2): fix EID/matching ID, optionally release."""
    params = es2_parse(ConfirmOrderRequest, body)
    profile = _profile(conn, params.iccid)
    iccid = profile["iccid"]
    release, eid, matching_id = params.releaseFlag, params.eid, params.matchingId
    confirmation_code, smds_address = params.confirmationCode, params.smdsAddress
    if profile["state"] not in ("Allocated", "Linked"):
        raise Es2Error(
            sc.ICCID_INVALID_TRANSITION, f"profile is {profile['state']}, not ordered", iccid
        )
    if eid and profile["eid"] and eid != profile["eid"]:
        raise Es2Error(sc.EID_MISMATCH, "a different EID is associated with this ICCID", eid)
    eid = eid or profile["eid"]
    if matching_id is None:
        matching_id = _matching_id_unused(conn)
    else:
        owner = store.profile_by_matching_id(conn, matching_id) if matching_id else None
        if owner is not None and owner["iccid"] != iccid:
            raise Es2Error(sc.MATCHING_ID_IN_USE, "matchingId is already in use", matching_id)
    # Without a matching ID (empty) or through an SM-DS, only the EID can find the profile.
    if not eid and (matching_id == "" or smds_address):
        raise Es2Error(sc.EID_MISSING, "eid is required for this order", "eid")
    state = "Released" if release else "Confirmed"
    conn.execute(
        "UPDATE profiles SET state = ?, eid = ?, matching_id = ?, confirmation_code = ?,"
        " smds_address = ?, download_due_at = ?, updated_at = ? WHERE iccid = ?",
        (
            state,
            eid,
            matching_id,
            confirmation_code,
            smds_address,
            download_schedule(settings, released_at=now) if release else None,
            now,
            iccid,
        ),
    )
    answer: Body = {"matchingId": matching_id, "smdpAddress": settings.smdp_address}
    if eid:
        answer = {"eid": eid, **answer}
    return answer


def order_cancel(conn: sqlite3.Connection, *, body: Body, now: float, settings: Settings) -> Body:
    """ES2+.CancelOrder (SGP.22 5.3.3): withdraw an order before the download."""
    params = es2_parse(CancelOrderRequest, body)
    profile = _profile(conn, params.iccid)
    iccid = profile["iccid"]
    final_state, eid, matching_id = (params.finalProfileStatusIndicator, params.eid,
                                     params.matchingId)
    if eid is not None and eid != profile["eid"]:
        raise Es2Error(sc.EID_MISMATCH, "the order is not for this EID", eid)
    if matching_id is not None and matching_id != (profile["matching_id"] or ""):
        raise Es2Error(sc.MATCHING_ID_MISMATCH, "a different matchingId is associated", matching_id)
    if profile["state"] in ("Downloaded", "Installed"):
        raise Es2Error(sc.ICCID_NOT_AVAILABLE, "profile is already downloaded", iccid)
    if profile["state"] not in (*ORDERED_STATES, "Error"):
        raise Es2Error(
            sc.ICCID_INVALID_TRANSITION, f"profile is {profile['state']}, no order to cancel", iccid
        )
    if final_state == "Available":
        # Back in the pool: forget everything that tied it to the cancelled order.
        conn.execute(
            "UPDATE profiles SET state = 'Available', eid = NULL, matching_id = NULL,"
            " confirmation_code = NULL, smds_address = NULL, suspended = 0,"
            " download_due_at = NULL, install_due_at = NULL, updated_at = ? WHERE iccid = ?",
            (now, iccid),
        )
    else:
        conn.execute(
            "UPDATE profiles SET state = 'Unavailable', download_due_at = NULL,"
            " install_due_at = NULL, updated_at = ? WHERE iccid = ?",
            (now, iccid),
        )
    # Bundles bought for the cancelled order must not start for whoever gets it next.
    ledger.bundles_revoke_all(conn, iccid=iccid, at=now)
    return {}


def profile_release(
    conn: sqlite3.Connection, *, body: Body, now: float, settings: Settings
) -> Body:
    """ES2+.ReleaseProfile (SGP.22 5.3.4): let a Confirmed profile be downloaded."""
    params = es2_parse(ReleaseProfileRequest, body)
    profile = _profile(conn, params.iccid)
    if profile["state"] != "Confirmed":
        raise Es2Error(
            sc.ICCID_INVALID_TRANSITION,
            f"profile is {profile['state']}, only a Confirmed profile can be released",
            profile["iccid"],
        )
    conn.execute(
        "UPDATE profiles SET state = 'Released', download_due_at = ?, updated_at = ?"
        " WHERE iccid = ?",
        (download_schedule(settings, released_at=now), now, profile["iccid"]),
    )
    return {}


def profile_create(conn: sqlite3.Connection, *, profile_type: str, now: float) -> str:
    iccid = iccid_make(store.iccid_serial_next(conn))
    conn.execute(
        "INSERT INTO profiles (iccid, state, profile_type, created_at, updated_at)"
        " VALUES (?, 'Available', ?, ?, ?)",
        (iccid, profile_type, now, now),
    )
    return iccid


def _profile(conn: sqlite3.Connection, iccid: str) -> sqlite3.Row:
    profile = store.profile_get(conn, iccid)
    if profile is None:
        raise Es2Error(sc.ICCID_UNKNOWN, "profile unknown", iccid)
    return profile


def _matching_id_unused(conn: sqlite3.Connection) -> str:
    while store.profile_by_matching_id(conn, candidate := matching_id_make()) is not None:
        pass
    return candidate
