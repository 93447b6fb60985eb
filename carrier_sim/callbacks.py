"""Outgoing callbacks to the portal: the outbox and its delivery.

A state change writes its callback into `outbox` in the same transaction, so the
two commit together. `outbox_deliver` sends due rows after the commit, signs the
exact stored bytes (HMAC-SHA256, header `X-Signature: sha256=<hex>`), and
records what happened: delivered, dropped on purpose, retried later, or given up.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import random
import sqlite3
import uuid
from typing import Any
from urllib.parse import urlsplit

from .clock import iso
from .config import Settings
from .store import Store, inserted_id

log = logging.getLogger(__name__)

DOWNLOAD_PROGRESS_PATH = "/gsma/rsp2/es2plus/handleDownloadProgressInfo"
USAGE_PATH = "/carrier/callbacks/usage"
ADMIN_PROTOCOL = "gsma/rsp/v2.5.0"

MAX_ATTEMPTS = 5
BACKOFF_SECONDS = (2, 5, 15, 60)  # wait after attempt 1, 2, 3, 4
SEND_TIMEOUT_SECONDS = 5.0
# A row claimed by a sender that then died is sent again after this long.
CLAIM_LEASE_SECONDS = 60.0
BATCH_SIZE = 50


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def callback_enqueue(
    conn: sqlite3.Connection, *, kind: str, path: str, payload: dict[str, Any], at: float
) -> int:
    body = json.dumps(payload, separators=(",", ":"))
    cursor = conn.execute(
        "INSERT INTO outbox (kind, path, body, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?)",
        (kind, path, body, at, at),
    )
    return inserted_id(cursor)


def download_progress_enqueue(
    conn: sqlite3.Connection,
    *,
    profile: sqlite3.Row,
    eid: str,
    notification_point: int,
    status: dict[str, Any],
    at: float,
    requester_id: str,
) -> int:
    """Queue ES2+ HandleDownloadProgressInfo (SGP.22 5.3.5) for the operator."""
    payload = {
        "header": {
            "functionRequesterIdentifier": requester_id,
            "functionCallIdentifier": str(uuid.uuid4()),
        },
        "eid": eid,
        "iccid": profile["iccid"],
        "profileType": profile["profile_type"],
        "timestamp": iso(at),
        "notificationPointId": notification_point,
        "notificationPointStatus": status,
    }
    return callback_enqueue(
        conn, kind="download_progress", path=DOWNLOAD_PROGRESS_PATH, payload=payload, at=at
    )


def usage_enqueue(
    conn: sqlite3.Connection, *, event_type: str, bundle: dict[str, Any], at: float
) -> int:
    payload = {
        "event_id": str(uuid.uuid4()),
        "type": event_type,
        "iccid": bundle["iccid"],
        "bundle": bundle,
        "reported_at": iso(at),
    }
    return callback_enqueue(conn, kind=event_type, path=USAGE_PATH, payload=payload, at=at)


def http_request(
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = SEND_TIMEOUT_SECONDS,
) -> tuple[int, bytes]:
    """One plain HTTP exchange; raises OSError when the other side is not there."""
    parts = urlsplit(url)
    if parts.hostname is None:
        raise ValueError(f"{url!r} names no host")
    connection_class = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    connection = connection_class(parts.hostname, parts.port, timeout=timeout)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request(method, target, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def outbox_deliver(
    store: Store, *, settings: Settings, now: float, rng: random.Random
) -> dict[str, int]:
    """Send the callbacks that are due; return how many ended in each status."""
    counts = {"delivered": 0, "dropped": 0, "retry": 0, "failed": 0, "skipped": 0}
    for row in _claim_due(store, now=now, lag=settings.usage_lag_seconds):
        outcome, http_status, error = _attempt(row, settings=settings, rng=rng)
        attempts = row["attempts"] + (1 if outcome in ("delivered", "retry") else 0)
        if outcome == "retry" and attempts >= MAX_ATTEMPTS:
            outcome = "failed"
        status = "pending" if outcome == "retry" else outcome
        wait = BACKOFF_SECONDS[min(attempts, len(BACKOFF_SECONDS)) - 1] if attempts else 0
        with store.transaction() as conn:
            conn.execute(
                "UPDATE outbox SET status = ?, attempts = ?, next_attempt_at = ?,"
                " last_status = ?, last_error = ?, delivered_at = ? WHERE id = ?",
                (
                    status,
                    attempts,
                    now + wait,
                    http_status,
                    error,
                    now if outcome == "delivered" else None,
                    row["id"],
                ),
            )
        counts[outcome] += 1
    return counts


def _claim_due(store: Store, *, now: float, lag: float) -> list[sqlite3.Row]:
    """Due callbacks, claimed for a while. A usage or bundle report goes out `lag`
    seconds after the moment it describes: the carrier's usage records come in late."""
    with store.transaction() as conn:
        rows = conn.execute(
            "SELECT * FROM outbox WHERE status IN ('pending', 'sending')"
            " AND next_attempt_at <= ? AND (path != ? OR created_at <= ?) ORDER BY id LIMIT ?",
            (now, USAGE_PATH, now - lag, BATCH_SIZE),
        ).fetchall()
        conn.executemany(
            "UPDATE outbox SET status = 'sending', next_attempt_at = ? WHERE id = ?",
            [(now + CLAIM_LEASE_SECONDS, row["id"]) for row in rows],
        )
    return rows


def _attempt(
    row: sqlite3.Row, *, settings: Settings, rng: random.Random
) -> tuple[str, int | None, str | None]:
    if not settings.callback_url:
        return "skipped", None, "no callback URL configured"
    # The drop is decided once, on the first try: a dropped callback is lost for good,
    # which is what the portal has to survive.
    if row["attempts"] == 0 and rng.random() < settings.drop_callback_rate:
        return "dropped", None, "dropped by CARRIER_SIM_DROP_CALLBACK_RATE"
    body = row["body"].encode()
    headers = {
        "Content-Type": "application/json",
        "X-Signature": signature(settings.callback_secret, body),
        "User-Agent": "carrier-sim",
    }
    if row["kind"] == "download_progress":
        headers["X-Admin-Protocol"] = ADMIN_PROTOCOL
    url = settings.callback_url + row["path"]
    try:
        status, _ = http_request("POST", url, body=body, headers=headers)
    # ValueError: a URL that cannot be used (a port out of range, a host IDNA refuses);
    # kept and retried like an unreachable one, so the rest of the outbox still goes.
    except (OSError, http.client.HTTPException, ValueError) as exc:
        log.info("callback %s to %s failed: %s", row["id"], url, exc)
        return "retry", None, f"{type(exc).__name__}: {exc}"[:500]
    if 200 <= status < 300:
        return "delivered", status, None
    log.info("callback %s to %s answered HTTP %s", row["id"], url, status)
    return "retry", status, f"HTTP {status}"
