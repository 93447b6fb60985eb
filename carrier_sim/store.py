"""The simulator's own SQLite file: schema, transactions and the shared reads.

Every write happens in `Store.transaction()`, which takes SQLite's write lock up
front (BEGIN IMMEDIATE) so two request threads can never both read "profile is
Available" and both allocate it. A process-wide lock in front of it keeps the
threads of one process from spinning on SQLITE_BUSY; the SQLite lock still
protects against a second process on the same file.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS profiles (
    iccid TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('Available', 'Allocated', 'Linked', 'Confirmed',
        'Released', 'Downloaded', 'Installed', 'Error', 'Unavailable')),
    profile_type TEXT NOT NULL,
    eid TEXT,
    matching_id TEXT,
    confirmation_code TEXT,
    smds_address TEXT,
    suspended INTEGER NOT NULL DEFAULT 0,
    download_due_at REAL,
    install_due_at REAL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
-- One matching ID points at one profile; an empty one means "use the EID".
CREATE UNIQUE INDEX IF NOT EXISTS profiles_matching_id_unique
    ON profiles (matching_id) WHERE matching_id <> '';
CREATE INDEX IF NOT EXISTS profiles_download_due
    ON profiles (download_due_at) WHERE download_due_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS profiles_install_due
    ON profiles (install_due_at) WHERE install_due_at IS NOT NULL;

-- ES2+ calls already answered, so a retried call gets the same answer.
CREATE TABLE IF NOT EXISTS es2_calls (
    requester TEXT NOT NULL,
    call_id TEXT NOT NULL,
    function TEXT NOT NULL,
    request_digest TEXT NOT NULL,
    response TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (requester, call_id, function)
);

CREATE TABLE IF NOT EXISTS bundles (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    reference TEXT NOT NULL UNIQUE,
    iccid TEXT NOT NULL REFERENCES profiles (iccid),
    bundle_code TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('full', 'topup')),
    state TEXT NOT NULL CHECK (state IN ('processing', 'queued', 'active', 'depleted',
        'expired', 'revoked')),
    initial_bytes INTEGER,
    remaining_bytes INTEGER,
    used_bytes INTEGER NOT NULL DEFAULT 0,
    validity_days INTEGER NOT NULL,
    start_at REAL,
    end_at REAL,
    topup_of INTEGER REFERENCES bundles (id),
    consumed_until REAL,
    reported_at REAL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS bundles_iccid ON bundles (iccid, id);

-- Extensions of a running bundle's end, each by its caller's reference, so a repeated
-- call extends once (ledger.bundle_extend).
CREATE TABLE IF NOT EXISTS extensions (
    reference TEXT PRIMARY KEY,
    bundle_id INTEGER NOT NULL REFERENCES bundles (id),
    days INTEGER NOT NULL,
    created_at REAL NOT NULL
);
-- The invariant the portal relies on: at most one active full bundle per eSIM.
CREATE UNIQUE INDEX IF NOT EXISTS bundles_one_active
    ON bundles (iccid) WHERE state = 'active' AND kind = 'full';

-- Callbacks are written here in the transaction that caused them and sent after
-- it commits, so a crash can delay a callback but never lose or invent one.
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    path TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sending',
        'delivered', 'dropped', 'failed', 'skipped')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_status INTEGER,
    last_error TEXT,
    created_at REAL NOT NULL,
    delivered_at REAL
);
CREATE INDEX IF NOT EXISTS outbox_due
    ON outbox (next_attempt_at) WHERE status IN ('pending', 'sending');
"""

# Tables /sim/reset empties; `meta` survives so ICCIDs are never issued twice.
DATA_TABLES = ("outbox", "es2_calls", "extensions", "bundles", "profiles")


class Store:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._write_lock = threading.Lock()
        conn = self._connect()
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(SCHEMA)
            # Start the ICCID serial at the clock so a recreated file does not
            # hand out ICCIDs a portal database already knows.
            conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('iccid_serial', ?)",
                (int(time.time() * 10) % 10**11,),
            )
        finally:
            conn.close()

    def _connect(self) -> sqlite3.Connection:
        # A connection per transaction: request threads come and go, and an
        # open connection per dead thread would leak file handles.
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._write_lock:
            conn = self._connect()
            try:
                conn.execute("BEGIN IMMEDIATE")
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            finally:
                conn.close()

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for several reads, without the write lock."""
        conn = self._connect()
        try:
            conn.execute("BEGIN DEFERRED")
            yield conn
            conn.execute("COMMIT")
        finally:
            conn.close()

    def reset(self) -> None:
        with self.transaction() as conn:
            for table in DATA_TABLES:
                conn.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names


def iccid_serial_next(conn: sqlite3.Connection) -> int:
    row = conn.execute(
        "UPDATE meta SET value = value + 1 WHERE key = 'iccid_serial' RETURNING value"
    ).fetchone()
    return int(row["value"]) % 10**11


def inserted_id(cursor: sqlite3.Cursor) -> int:
    """The rowid of the row an INSERT on `cursor` just made."""
    if cursor.lastrowid is None:
        raise RuntimeError("the statement inserted no row")
    return cursor.lastrowid


def profile_get(conn: sqlite3.Connection, iccid: str) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM profiles WHERE iccid = ?", (iccid,)).fetchone()


def profile_by_matching_id(conn: sqlite3.Connection, matching_id: str) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM profiles WHERE matching_id = ?", (matching_id,)).fetchone()


def bundle_get(conn: sqlite3.Connection, bundle_id: int) -> sqlite3.Row:
    return conn.execute("SELECT * FROM bundles WHERE id = ?", (bundle_id,)).fetchone()


def bundle_by_reference(conn: sqlite3.Connection, reference: str) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM bundles WHERE reference = ?", (reference,)).fetchone()


def bundles_of(conn: sqlite3.Connection, iccid: str) -> list[sqlite3.Row]:
    return conn.execute("SELECT * FROM bundles WHERE iccid = ? ORDER BY id", (iccid,)).fetchall()


def bundle_active(conn: sqlite3.Connection, iccid: str) -> sqlite3.Row | None:
    return conn.execute(
        "SELECT * FROM bundles WHERE iccid = ? AND kind = 'full' AND state = 'active'",
        (iccid,),
    ).fetchone()


def bundle_next_queued(conn: sqlite3.Connection, iccid: str) -> sqlite3.Row | None:
    return conn.execute(
        "SELECT * FROM bundles WHERE iccid = ? AND state = 'queued' ORDER BY id LIMIT 1",
        (iccid,),
    ).fetchone()


def outbox_list(conn: sqlite3.Connection, status: str | None = None) -> list[sqlite3.Row]:
    if status:
        return conn.execute(
            "SELECT * FROM outbox WHERE status = ? ORDER BY id", (status,)
        ).fetchall()
    return conn.execute("SELECT * FROM outbox ORDER BY id").fetchall()
