"""Time for the simulator: the wall clock read in one place, plus a movable offset.

Timestamps are stored as UNIX seconds (floats, UTC by definition) and shown as
ISO 8601 UTC with a "Z". `POST /sim/tick {"advance_seconds": n}` moves the
simulator's clock forward without waiting; time-machine can move `now()` too.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime


def now() -> float:
    """The wall clock. Everything else asks a Clock, which asks this."""
    return time.time()


def iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    moment = datetime.fromtimestamp(timestamp, UTC).replace(microsecond=0)
    return moment.isoformat().replace("+00:00", "Z")


class Clock:
    """Wall clock plus the seconds tests have skipped ahead."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        return now() + self._offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time only moves forward")
        with self._lock:
            self._offset += seconds

    def reset(self) -> None:
        with self._lock:
            self._offset = 0.0
