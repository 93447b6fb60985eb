"""Run a real simulator inside a test process.

    with running_simulator(callback_url=live_server.url) as sim:
        settings.CARRIER_URL = sim.url
        ...
        sim.download(iccid)            # the phone installs the eSIM now
        sim.tick(advance_seconds=3600) # an hour of data use passes

The simulator listens on 127.0.0.1 on a free port with its own temporary
SQLite file. It ignores the CARRIER_* environment so a developer's shell cannot
change a test, and by default has no engine thread (tick_seconds=0): time moves
only when the test calls `tick()`.
"""

from __future__ import annotations

import json
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.serving import make_server

from .app import create_app
from .callbacks import http_request
from .config import Settings
from .simulator import EXTENSION_KEY


class ControlError(RuntimeError):
    """A control endpoint answered with an error."""


@dataclass
class RunningSimulator:
    url: str
    api_key: str
    callback_secret: str
    app: Flask

    def _call(self, method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
        body = None if payload is None else json.dumps(payload).encode()
        status, raw = http_request(
            method,
            self.url + path,
            body=body,
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
        if status >= 400:
            raise ControlError(f"{method} {path} -> HTTP {status}: {raw.decode(errors='replace')}")
        return json.loads(raw)

    def tick(self, advance_seconds: float = 0) -> dict[str, Any]:
        return self._call("POST", "/sim/tick", {"advance_seconds": advance_seconds})

    def download(self, iccid: str, *, fail: bool = False) -> dict[str, Any]:
        return self._call("POST", f"/sim/profiles/{iccid}/download", {"fail": fail})

    def consume(self, iccid: str, nbytes: int) -> dict[str, Any]:
        return self._call("POST", f"/sim/profiles/{iccid}/consume", {"bytes": nbytes})

    def configure(self, **changes: Any) -> dict[str, Any]:
        return self._call("POST", "/sim/config", changes)

    def create_profiles(self, count: int = 1, profile_type: str = "default", *,
                        installed: bool = False) -> list[str]:
        answer = self._call("POST", "/sim/profiles", {"count": count, "profile_type": profile_type,
                                                      "installed": installed})
        return answer["iccids"]

    def callbacks(self, status: str | None = None) -> list[dict[str, Any]]:
        query = f"?status={status}" if status else ""
        return self._call("GET", f"/sim/callbacks{query}")["callbacks"]

    def reset(self) -> None:
        self._call("POST", "/sim/reset")


@contextmanager
def running_simulator(**config_overrides: Any) -> Iterator[RunningSimulator]:
    """Start a simulator for the duration of the block; overrides are Settings fields."""
    with tempfile.TemporaryDirectory(prefix="carrier-sim-") as folder:
        config = {
            "db_path": str(Path(folder) / "carrier_sim.sqlite3"),
            "tick_seconds": 0,
            # Reports as fresh as the use unless a test asks for a lagging carrier.
            "usage_lag_seconds": 0,
            **config_overrides,
        }
        settings = Settings().replace(**config)
        app = create_app(settings)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, name="carrier-sim", daemon=True)
        thread.start()
        try:
            yield RunningSimulator(
                url=f"http://127.0.0.1:{server.server_port}",
                api_key=settings.api_key,
                callback_secret=settings.callback_secret,
                app=app,
            )
        finally:
            app.extensions[EXTENSION_KEY].close()
            server.shutdown()
            thread.join(10)
            server.server_close()
