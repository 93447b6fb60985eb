"""`python -m carrier_sim`: serve the simulator with gunicorn, one process of threads.

One process, because the simulator's state (its SQLite store, its clock and the engine
thread that ends bundles and delivers callbacks) lives in it. gunicorn's threaded worker
keeps client connections open between requests, as a real carrier's front end does;
werkzeug's development server closes every connection, which cost a new connection and
a new thread per call.
"""

from __future__ import annotations

import logging
import sys

from flask import Flask
from gunicorn.app.base import BaseApplication

from .app import create_app
from .config import ConfigError, Settings
from .simulator import EXTENSION_KEY

log = logging.getLogger("carrier_sim")

THREADS = 16
KEEPALIVE_SECONDS = 75


class _Server(BaseApplication):
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app: Flask | None = None
        super().__init__()

    def load_config(self) -> None:
        self.cfg.set("bind", [f"{self.settings.host}:{self.settings.port}"])
        self.cfg.set("workers", 1)
        self.cfg.set("worker_class", "gthread")
        self.cfg.set("threads", THREADS)
        self.cfg.set("keepalive", KEEPALIVE_SECONDS)
        self.cfg.set("graceful_timeout", 10)
        self.cfg.set("control_socket_disable", True)  # it would go to $HOME
        self.cfg.set("worker_exit", self._worker_exit)

    def load(self) -> Flask:
        # In the worker process, after the fork: the engine thread starts here.
        self.app = create_app(self.settings)
        log.info(
            "carrier simulator on http://%s:%s (db %s, callbacks to %s)",
            self.settings.host,
            self.settings.port,
            self.settings.db_path,
            self.settings.callback_url or "nowhere",
        )
        return self.app

    def _worker_exit(self, server, worker) -> None:
        if self.app is not None:
            self.app.extensions[EXTENSION_KEY].close()


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"carrier_sim: bad setting: {exc}", file=sys.stderr)
        return 2
    # gunicorn stops on SIGTERM (docker stop) and SIGINT (Ctrl-C), letting requests finish.
    _Server(settings).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
