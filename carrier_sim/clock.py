"""Time for the simulator: the wall clock read in one place, plus a movable offset.

Timestamps are stored as UNIX seconds (floats, UTC by definition) and shown as
ISO 8601 UTC with a "Z". `POST /sim/tick {"advance_seconds": n}` moves the
simulator's clock forward without waiting; time-machine can move `now()` too.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

# Past the year 9999 no date can be written (iso() would raise); stop well before.
CLOCK_LIMIT = datetime(9000, 1, 1, tzinfo=UTC).timestamp()


class ClockLimitError(ValueError):
    """The clock was asked to move past CLOCK_LIMIT."""


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
            if self.now() + seconds > CLOCK_LIMIT:
                raise ClockLimitError("the clock cannot be moved past the year 9000")
            self._offset += seconds

    def reset(self) -> None:
        with self._lock:
            self._offset = 0.0
