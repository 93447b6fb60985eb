"""The simulated phone: downloads a Released profile and installs it.

Released -> Downloaded (notification point 3) -> Installed (point 4), or
Released/Downloaded -> Error (point 1, failed). Each step reports to the
operator with HandleDownloadProgressInfo through the outbox. Installing starts
the first bundle that was waiting for the eSIM.
"""

from __future__ import annotations

import sqlite3

from . import ledger, store
from .callbacks import download_progress_enqueue
from .config import Settings
from .identifiers import eid_make

INSTALL_AFTER_DOWNLOAD_SECONDS = 2.0
POINT_FAILED, POINT_DOWNLOADED, POINT_INSTALLED = 1, 3, 4
SUCCESS = {"status": "Executed-Success"}


class DeviceError(Exception):
    """The device cannot do this with the profile in its current state."""


def download_schedule(settings: Settings, *, released_at: float) -> float | None:
    """When the simulated device will fetch a profile released now (None: never)."""
    if settings.install_after_seconds < 0:
        return None
    return released_at + settings.install_after_seconds


def _profile(conn: sqlite3.Connection, iccid: str) -> sqlite3.Row:
    profile = store.profile_get(conn, iccid)
    if profile is None:
        raise DeviceError(f"no profile with ICCID {iccid}")
    return profile


def device_download(conn: sqlite3.Connection, *, iccid: str, at: float, settings: Settings) -> None:
    profile = _profile(conn, iccid)
    # A profile released without an EID gets the EID of whichever phone scans it.
    eid = profile["eid"] or eid_make()
    updated = conn.execute(
        "UPDATE profiles SET state = 'Downloaded', eid = ?, download_due_at = NULL,"
        " install_due_at = ?, updated_at = ? WHERE iccid = ? AND state = 'Released'",
        (eid, at + INSTALL_AFTER_DOWNLOAD_SECONDS, at, iccid),
    ).rowcount
    if not updated:
        raise DeviceError(f"profile is {profile['state']}, not Released")
    download_progress_enqueue(
        conn,
        profile=profile,
        eid=eid,
        notification_point=POINT_DOWNLOADED,
        status=SUCCESS,
        at=at,
        requester_id=settings.requester_id,
    )


def device_install(conn: sqlite3.Connection, *, iccid: str, at: float, settings: Settings) -> None:
    profile = _profile(conn, iccid)
    updated = conn.execute(
        "UPDATE profiles SET state = 'Installed', install_due_at = NULL, updated_at = ?"
        " WHERE iccid = ? AND state = 'Downloaded'",
        (at, iccid),
    ).rowcount
    if not updated:
        raise DeviceError(f"profile is {profile['state']}, not Downloaded")
    download_progress_enqueue(
        conn,
        profile=profile,
        eid=profile["eid"],
        notification_point=POINT_INSTALLED,
        status=SUCCESS,
        at=at,
        requester_id=settings.requester_id,
    )
    ledger.bundle_start_next(conn, iccid=iccid, at=at)


def device_fail(conn: sqlite3.Connection, *, iccid: str, at: float, settings: Settings) -> None:
    profile = _profile(conn, iccid)
    eid = profile["eid"] or eid_make()
    updated = conn.execute(
        "UPDATE profiles SET state = 'Error', eid = ?, download_due_at = NULL,"
        " install_due_at = NULL, updated_at = ? WHERE iccid = ?"
        " AND state IN ('Released', 'Downloaded')",
        (eid, at, iccid),
    ).rowcount
    if not updated:
        raise DeviceError(f"profile is {profile['state']}, not Released or Downloaded")
    failed = {
        "status": "Failed",
        "statusCodeData": {
            "subjectCode": "8.1",
            "reasonCode": "3.8",
            "subjectIdentifier": eid,
            "message": "the simulated eUICC refused the profile",
        },
    }
    download_progress_enqueue(
        conn,
        profile=profile,
        eid=eid,
        notification_point=POINT_FAILED,
        status=failed,
        at=at,
        requester_id=settings.requester_id,
    )


def devices_progress(conn: sqlite3.Connection, *, now: float, settings: Settings) -> int:
    """Run every download and installation that is due, at the moment it was due."""
    steps = 0
    for row in conn.execute(
        "SELECT iccid, download_due_at FROM profiles WHERE state = 'Released'"
        " AND download_due_at <= ? ORDER BY download_due_at",
        (now,),
    ).fetchall():
        device_download(conn, iccid=row["iccid"], at=row["download_due_at"], settings=settings)
        steps += 1
    for row in conn.execute(
        "SELECT iccid, install_due_at FROM profiles WHERE state = 'Downloaded'"
        " AND install_due_at <= ? ORDER BY install_due_at",
        (now,),
    ).fetchall():
        device_install(conn, iccid=row["iccid"], at=row["install_due_at"], settings=settings)
        steps += 1
    return steps
