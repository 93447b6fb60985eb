"""Bundles: the one home of their state machine and of data consumption.

queued -> active -> depleted | expired, and any of queued/active -> revoked.
An eSIM has at most one active full bundle (a unique index says so). The next
queued bundle starts at the moment the active one ends - expiry or depletion,
whichever comes first - and only on an installed profile. A top-up adds its
quantity to the active bundle and keeps its end; its own record follows the
state of the bundle it topped up.

All functions take the open transaction and an explicit time, so the engine can
replay a long stretch of simulated time exactly and tests need no sleeping.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from . import store
from .callbacks import usage_enqueue
from .clock import iso

DAY_SECONDS = 86400.0
TERMINAL_STATES = frozenset({"depleted", "expired", "revoked"})


class BundleError(Exception):
    """A bundle request the carrier refuses; maps onto an HTTP error answer."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


def usage_as_of(row: sqlite3.Row, *, as_of: float, rate: int) -> tuple[int, int | None, float]:
    """The bundle's (used, remaining) bytes as of the moment `as_of`, and the moment the
    figures truly hold for: a carrier whose records lag real use reports the use of a
    while ago. The bytes used since `as_of` (at `rate`, 0 when the eSIM is suspended)
    are left out; an active bundle not counted up to `as_of` yet is as of when it was."""
    used, remaining = row["used_bytes"], row["remaining_bytes"]
    counted = row["consumed_until"]
    if row["kind"] != "full" or counted is None:
        return used, remaining, as_of
    if counted <= as_of:
        return used, remaining, counted if row["state"] == "active" else as_of
    since = max(as_of, row["start_at"] if row["start_at"] is not None else as_of)
    recent = min(used, int(rate * max(0.0, counted - since)))
    return used - recent, None if remaining is None else remaining + recent, as_of


def bundle_json(
    conn: sqlite3.Connection, row: sqlite3.Row, *, as_of: float, rate: int = 0
) -> dict[str, Any]:
    """The bundle as the API and the callbacks describe it, its usage as of `as_of`
    (see usage_as_of) with that moment in `usage_at`."""
    used, remaining, figures_at = usage_as_of(row, as_of=as_of, rate=rate)
    topup_of = None
    if row["topup_of"] is not None:
        topup_of = store.bundle_get(conn, row["topup_of"])["reference"]
    unlimited = row["initial_bytes"] is None
    return {
        "reference": row["reference"],
        "iccid": row["iccid"],
        "bundle_code": row["bundle_code"],
        "kind": row["kind"],
        "state": row["state"],
        "initial_quantity_bytes": row["initial_bytes"],
        "remaining_quantity_bytes": remaining,
        "used_bytes": used,
        "usage_at": iso(figures_at),
        "unlimited": unlimited,
        "validity_days": row["validity_days"],
        "start": iso(row["start_at"]),
        "end": iso(row["end_at"]),
        "created": iso(row["created_at"]),
        "topup_of": topup_of,
    }


def _announce(conn: sqlite3.Connection, bundle_id: int, *, event_type: str, at: float) -> None:
    # Exact figures as of `at`: a lagging carrier sends them late (callbacks.py), it
    # does not send old ones.
    bundle = bundle_json(conn, store.bundle_get(conn, bundle_id), as_of=at)
    usage_enqueue(conn, event_type=event_type, bundle=bundle, at=at)


def bundle_activate(conn: sqlite3.Connection, *, bundle: sqlite3.Row, at: float) -> None:
    end = at + bundle["validity_days"] * DAY_SECONDS
    updated = conn.execute(
        "UPDATE bundles SET state = 'active', start_at = ?, end_at = ?, consumed_until = ?,"
        " reported_at = ?, updated_at = ? WHERE id = ? AND state = 'queued'",
        (at, end, at, at, at, bundle["id"]),
    ).rowcount
    if updated:
        _announce(conn, bundle["id"], event_type="bundle_state", at=at)


def bundle_finish(conn: sqlite3.Connection, *, bundle: sqlite3.Row, state: str, at: float) -> None:
    """Move an active or queued bundle to a terminal state; its top-ups follow."""
    assert state in TERMINAL_STATES
    followers = conn.execute(
        "SELECT id FROM bundles WHERE topup_of = ? AND state = 'active' ORDER BY id",
        (bundle["id"],),
    ).fetchall()
    for bundle_id in [bundle["id"], *(row["id"] for row in followers)]:
        updated = conn.execute(
            "UPDATE bundles SET state = ?, updated_at = ? WHERE id = ?"
            " AND state IN ('processing', 'queued', 'active')",
            (state, at, bundle_id),
        ).rowcount
        if updated:
            _announce(conn, bundle_id, event_type="bundle_state", at=at)


def bundle_start_next(conn: sqlite3.Connection, *, iccid: str, at: float) -> bool:
    """Start the oldest queued bundle if the profile is installed and idle."""
    profile = store.profile_get(conn, iccid)
    if profile is None or profile["state"] != "Installed":
        return False
    if store.bundle_active(conn, iccid) is not None:
        return False
    queued = store.bundle_next_queued(conn, iccid)
    if queued is None:
        return False
    bundle_activate(conn, bundle=queued, at=at)
    return True


def usage_advance(conn: sqlite3.Connection, *, iccid: str, now: float, rate: int) -> None:
    """Consume data from the last accounted moment up to `now`.

    Loops because one stretch of time can end a bundle, start the next one and
    end that one too; each starts at the exact moment the previous one ended.
    """
    profile = store.profile_get(conn, iccid)
    if profile is None:
        return
    suspended = bool(profile["suspended"])
    while (bundle := store.bundle_active(conn, iccid)) is not None:
        since = bundle["consumed_until"]
        until = max(since, min(now, bundle["end_at"]))
        used, remaining = bundle["used_bytes"], bundle["remaining_bytes"]
        ended: tuple[str, float] | None = None
        if not suspended and rate > 0 and until > since:
            amount = int(rate * (until - since))
            if remaining is not None and amount >= remaining:
                until = since + remaining / rate
                used, remaining = used + remaining, 0
                ended = ("depleted", until)
            else:
                used += amount
                remaining = None if remaining is None else remaining - amount
        if ended is None and bundle["end_at"] <= now:
            ended = ("expired", bundle["end_at"])
        conn.execute(
            "UPDATE bundles SET used_bytes = ?, remaining_bytes = ?, consumed_until = ?,"
            " updated_at = ? WHERE id = ?",
            (used, remaining, until, now, bundle["id"]),
        )
        if ended is None:
            return
        state, at = ended
        bundle_finish(conn, bundle=store.bundle_get(conn, bundle["id"]), state=state, at=at)
        if not bundle_start_next(conn, iccid=iccid, at=at):
            return


def usage_consume(
    conn: sqlite3.Connection, *, iccid: str, amount: int, now: float, rate: int
) -> None:
    """Use `amount` bytes at once on the active bundle (operator/test control)."""
    usage_advance(conn, iccid=iccid, now=now, rate=rate)
    bundle = store.bundle_active(conn, iccid)
    if bundle is None:
        raise BundleError(409, "no_active_bundle", "the eSIM has no active bundle")
    remaining = bundle["remaining_bytes"]
    if remaining is None:
        conn.execute(
            "UPDATE bundles SET used_bytes = used_bytes + ?, updated_at = ? WHERE id = ?",
            (amount, now, bundle["id"]),
        )
        return
    taken = min(amount, remaining)
    conn.execute(
        "UPDATE bundles SET used_bytes = used_bytes + ?, remaining_bytes = ?, updated_at = ?"
        " WHERE id = ?",
        (taken, remaining - taken, now, bundle["id"]),
    )
    if taken == remaining:
        bundle_finish(conn, bundle=bundle, state="depleted", at=now)
        bundle_start_next(conn, iccid=iccid, at=now)


def bundle_apply(
    conn: sqlite3.Connection,
    *,
    iccid: str,
    reference: str,
    bundle_code: str,
    kind: str,
    validity_days: int,
    quantity: int | None,
    now: float,
    rate: int,
) -> tuple[bool, sqlite3.Row]:
    """Apply a bundle; returns (created, row). The same reference again is a no-op."""
    existing = store.bundle_by_reference(conn, reference)
    if existing is not None:
        if existing["iccid"] != iccid:
            raise BundleError(
                409, "reference_conflict", "this reference is already used on another eSIM"
            )
        return False, existing
    profile = store.profile_get(conn, iccid)
    if profile is None:
        raise BundleError(404, "unknown_iccid", f"no eSIM with ICCID {iccid}")
    if profile["state"] == "Unavailable":
        raise BundleError(409, "profile_unavailable", "the eSIM profile has been withdrawn")
    # Bring the eSIM up to date first: a bundle that ran out a moment ago must not
    # receive a top-up or keep a new bundle waiting.
    usage_advance(conn, iccid=iccid, now=now, rate=rate)
    if kind == "topup":
        return True, _topup_apply(
            conn,
            iccid=iccid,
            reference=reference,
            bundle_code=bundle_code,
            validity_days=validity_days,
            quantity=quantity,
            now=now,
        )
    cursor = conn.execute(
        "INSERT INTO bundles (reference, iccid, bundle_code, kind, state, initial_bytes,"
        " remaining_bytes, validity_days, created_at, updated_at)"
        " VALUES (?, ?, ?, 'full', 'queued', ?, ?, ?, ?, ?)",
        (reference, iccid, bundle_code, quantity, quantity, validity_days, now, now),
    )
    bundle_start_next(conn, iccid=iccid, at=now)
    return True, store.bundle_get(conn, store.inserted_id(cursor))


def _topup_apply(
    conn: sqlite3.Connection,
    *,
    iccid: str,
    reference: str,
    bundle_code: str,
    validity_days: int,
    quantity: int | None,
    now: float,
) -> sqlite3.Row:
    active = store.bundle_active(conn, iccid)
    if active is None:
        raise BundleError(409, "no_active_bundle", "a top-up needs an active bundle")
    if active["initial_bytes"] is None:
        raise BundleError(409, "unlimited_bundle", "the active bundle is already unlimited")
    if quantity is None:
        raise BundleError(
            400, "invalid_request", "a top-up needs a quantity", "initial_quantity_bytes"
        )
    conn.execute(
        "UPDATE bundles SET initial_bytes = initial_bytes + ?, remaining_bytes ="
        " remaining_bytes + ?, updated_at = ? WHERE id = ?",
        (quantity, quantity, now, active["id"]),
    )
    # The top-up's own record states what it added; consumption is counted on
    # the bundle it topped up, which also keeps its end.
    cursor = conn.execute(
        "INSERT INTO bundles (reference, iccid, bundle_code, kind, state, initial_bytes,"
        " remaining_bytes, validity_days, start_at, end_at, topup_of, created_at, updated_at)"
        " VALUES (?, ?, ?, 'topup', 'active', ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            reference,
            iccid,
            bundle_code,
            quantity,
            quantity,
            validity_days,
            now,
            active["end_at"],
            active["id"],
            now,
            now,
        ),
    )
    bundle_id = store.inserted_id(cursor)
    _announce(conn, bundle_id, event_type="bundle_state", at=now)
    _announce(conn, active["id"], event_type="usage", at=now)
    return store.bundle_get(conn, bundle_id)


def bundle_revoke(
    conn: sqlite3.Connection, *, reference: str, now: float, rate: int
) -> sqlite3.Row:
    """Revoke a bundle; one that already ended is returned unchanged."""
    bundle = store.bundle_by_reference(conn, reference)
    if bundle is None:
        raise BundleError(404, "unknown_bundle", f"no bundle with reference {reference!r}")
    usage_advance(conn, iccid=bundle["iccid"], now=now, rate=rate)
    bundle = store.bundle_get(conn, bundle["id"])
    if bundle["state"] in TERMINAL_STATES:
        return bundle
    if bundle["kind"] == "topup":
        _topup_withdraw(conn, topup=bundle, now=now)
    else:
        bundle_finish(conn, bundle=bundle, state="revoked", at=now)
        bundle_start_next(conn, iccid=bundle["iccid"], at=now)
    return store.bundle_get(conn, bundle["id"])


def bundle_extend(
    conn: sqlite3.Connection,
    *,
    reference: str,
    extension: str,
    days: int,
    now: float,
    rate: int,
) -> tuple[bool, sqlite3.Row]:
    """Move a running bundle's end `days` later (support's goodwill); returns (extended,
    row). Each extension carries the caller's own reference: the same one again is a
    no-op that answers the bundle as it is, and reused for another bundle or another
    number of days it is a conflict. Only a running full bundle has an end to move: a
    queued one's period starts when it does, an ended one is over, and a top-up keeps
    the end of the bundle it topped up (which follows it here)."""
    bundle = store.bundle_by_reference(conn, reference)
    if bundle is None:
        raise BundleError(404, "unknown_bundle", f"no bundle with reference {reference!r}")
    done = conn.execute(
        "SELECT bundle_id, days FROM extensions WHERE reference = ?", (extension,)
    ).fetchone()
    if done is not None:
        if (done["bundle_id"], done["days"]) != (bundle["id"], days):
            raise BundleError(409, "reference_conflict",
                              "this extension reference was used for another extension",
                              "reference")
        return False, store.bundle_get(conn, bundle["id"])
    if bundle["kind"] != "full":
        raise BundleError(409, "not_extendable",
                          "a top-up ends with the bundle it topped up: extend that one")
    # Bring the eSIM up to date first: a bundle that ran out a moment ago has no end
    # left to move.
    usage_advance(conn, iccid=bundle["iccid"], now=now, rate=rate)
    bundle = store.bundle_get(conn, bundle["id"])
    if bundle["state"] != "active":
        raise BundleError(409, "bundle_not_active",
                          f"the bundle is {bundle['state']}: only a running bundle is extended")
    end = bundle["end_at"] + days * DAY_SECONDS
    conn.execute(
        "UPDATE bundles SET end_at = ?, updated_at = ? WHERE id = ? OR (topup_of = ?"
        " AND state = 'active')",
        (end, now, bundle["id"], bundle["id"]),
    )
    conn.execute(
        "INSERT INTO extensions (reference, bundle_id, days, created_at) VALUES (?, ?, ?, ?)",
        (extension, bundle["id"], days, now),
    )
    _announce(conn, bundle["id"], event_type="bundle_state", at=now)
    return True, store.bundle_get(conn, bundle["id"])


def _topup_withdraw(conn: sqlite3.Connection, *, topup: sqlite3.Row, now: float) -> None:
    """Take a revoked top-up's data back out of the bundle it was added to."""
    parent = store.bundle_get(conn, topup["topup_of"])
    conn.execute(
        "UPDATE bundles SET state = 'revoked', updated_at = ? WHERE id = ?", (now, topup["id"])
    )
    _announce(conn, topup["id"], event_type="bundle_state", at=now)
    remaining = max(0, parent["remaining_bytes"] - topup["initial_bytes"])
    conn.execute(
        "UPDATE bundles SET initial_bytes = initial_bytes - ?, remaining_bytes = ?,"
        " updated_at = ? WHERE id = ?",
        (topup["initial_bytes"], remaining, now, parent["id"]),
    )
    if remaining == 0:
        bundle_finish(conn, bundle=store.bundle_get(conn, parent["id"]), state="depleted", at=now)
        bundle_start_next(conn, iccid=parent["iccid"], at=now)
    else:
        _announce(conn, parent["id"], event_type="usage", at=now)


def bundles_revoke_all(conn: sqlite3.Connection, *, iccid: str, at: float) -> None:
    """Withdraw every bundle not yet ended, e.g. when the profile order is cancelled."""
    for bundle in store.bundles_of(conn, iccid):
        if bundle["kind"] == "full" and bundle["state"] not in TERMINAL_STATES:
            bundle_finish(conn, bundle=bundle, state="revoked", at=at)


def usage_report_due(conn: sqlite3.Connection, *, now: float, period: float) -> int:
    """Send the periodic usage report of every active bundle whose period is up."""
    if period <= 0:
        return 0
    due = conn.execute(
        "SELECT id FROM bundles WHERE kind = 'full' AND state = 'active' AND reported_at <= ?",
        (now - period,),
    ).fetchall()
    for row in due:
        conn.execute("UPDATE bundles SET reported_at = ? WHERE id = ?", (now, row["id"]))
        _announce(conn, row["id"], event_type="usage", at=now)
    return len(due)
