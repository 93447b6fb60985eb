"""The running simulator: settings, storage, clock and engine of one app."""

from __future__ import annotations

import random
import threading
from typing import Any

from flask import current_app

from .clock import Clock
from .config import RUNTIME_FIELDS, ConfigError, Settings
from .engine import Engine
from .faults import Faults
from .store import Store

EXTENSION_KEY = "carrier_sim"


class Simulator:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings  # replaced whole, never mutated: readers need no lock
        self.store = Store(settings.db_path)
        self.clock = Clock()
        self.rng = random.Random()  # simulated chance, not security
        self.stopping = threading.Event()
        self.faults = Faults(rng=self.rng, stopping=self.stopping)
        self.engine = Engine(self)
        self._settings_lock = threading.Lock()

    def configure(self, changes: dict[str, Any]) -> Settings:
        """Change runtime settings (latency, failure rates, ...) while running."""
        fixed = set(changes) - RUNTIME_FIELDS
        if fixed:
            raise ConfigError(f"cannot be changed at runtime: {', '.join(sorted(fixed))}")
        with self._settings_lock:
            self.settings = self.settings.replace(**changes)
            return self.settings

    def reset(self) -> None:
        self.store.reset()
        self.clock.reset()

    def start(self) -> None:
        if self.settings.tick_seconds > 0:
            self.engine.start()

    def close(self) -> None:
        self.stopping.set()
        self.engine.stop()


def get_sim() -> Simulator:
    return current_app.extensions[EXTENSION_KEY]
