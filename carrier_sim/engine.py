"""The ticker: everything that happens because time passes.

Each tick, in one transaction: simulated phones download and install released
profiles, waiting bundles start, active bundles use data and run out or expire,
and periodic usage reports fall due. After the commit the outbox is delivered.
A background thread ticks every CARRIER_SIM_TICK_SECONDS; with 0 there is no
thread and tests call `tick()` (POST /sim/tick) themselves.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from . import ledger
from .callbacks import outbox_deliver
from .clock import now
from .device import devices_progress

if TYPE_CHECKING:
    from .simulator import Simulator

__all__ = ["Engine", "now"]  # now(): the single wall-clock reading (see clock.py)

log = logging.getLogger(__name__)


class Engine:
    def __init__(self, sim: Simulator) -> None:
        self._sim = sim
        self._tick_lock = threading.Lock()
        # One sender at a time keeps each profile's callbacks in order (3 before 4).
        self._deliver_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self, *, advance_seconds: float = 0.0) -> dict[str, Any]:
        sim = self._sim
        with self._tick_lock:
            if advance_seconds:
                sim.clock.advance(advance_seconds)
            moment = sim.clock.now()
            settings = sim.settings
            with sim.store.transaction() as conn:
                device_steps = devices_progress(conn, now=moment, settings=settings)
                # Safety net: an installed, idle eSIM with a waiting bundle starts it.
                for row in conn.execute(
                    "SELECT DISTINCT b.iccid FROM bundles b JOIN profiles p ON p.iccid = b.iccid"
                    " WHERE b.state = 'queued' AND p.state = 'Installed'"
                ).fetchall():
                    ledger.bundle_start_next(conn, iccid=row["iccid"], at=moment)
                for row in conn.execute(
                    "SELECT iccid FROM bundles WHERE kind = 'full' AND state = 'active'"
                ).fetchall():
                    ledger.usage_advance(
                        conn, iccid=row["iccid"], now=moment, rate=settings.usage_bytes_per_second
                    )
                reports = ledger.usage_report_due(
                    conn, now=moment, period=settings.usage_report_seconds
                )
        delivered = self.deliver()
        return {"device_steps": device_steps, "usage_reports": reports, "callbacks": delivered}

    def deliver(self) -> dict[str, int]:
        sim = self._sim
        with self._deliver_lock:
            return outbox_deliver(
                sim.store, settings=sim.settings, now=sim.clock.now(), rng=sim.rng
            )

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="carrier-sim-engine", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self._sim.settings.tick_seconds):
            try:
                self.tick()
            except Exception:
                # A bad tick must not end the simulation; the next one retries.
                log.exception("engine tick failed")
