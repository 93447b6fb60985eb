"""Injected trouble: latency, hangs and "busy" answers, decided per API call.

Runs before a request touches any state, so a busy answer never hides a change.
A hang only delays: when it is over the call is carried out as normal, which is
exactly the case a client that timed out must handle (it retries, and the
retry must not do the work twice).
"""

from __future__ import annotations

import random
import threading

from .config import Settings


class Faults:
    def __init__(self, *, rng: random.Random, stopping: threading.Event) -> None:
        self._rng = rng
        # Waiting on the shutdown event instead of sleeping lets a stopping
        # server release its hanging requests at once.
        self._stopping = stopping

    def busy(self, settings: Settings) -> bool:
        """Delay this call as configured; True if it must be answered as busy."""
        if settings.latency_ms:
            self._stopping.wait(settings.latency_ms / 1000)
        if settings.timeout_rate and self._rng.random() < settings.timeout_rate:
            self._stopping.wait(settings.timeout_seconds)
        if self._stopping.is_set():
            return True
        return bool(settings.failure_rate) and self._rng.random() < settings.failure_rate
