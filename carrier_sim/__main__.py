"""`python -m carrier_sim`: serve the simulator with werkzeug's threaded server."""

from __future__ import annotations

import logging
import signal
import sys

from werkzeug.serving import make_server

from .app import create_app
from .config import ConfigError, Settings
from .simulator import EXTENSION_KEY

log = logging.getLogger("carrier_sim")


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"carrier_sim: bad setting: {exc}", file=sys.stderr)
        return 2
    app = create_app(settings)
    server = make_server(settings.host, settings.port, app, threaded=True)
    # docker stop sends SIGTERM: leave serve_forever the same way Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    log.info(
        "carrier simulator on http://%s:%s (db %s, callbacks to %s)",
        settings.host,
        server.server_port,
        settings.db_path,
        settings.callback_url or "nowhere",
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        app.extensions[EXTENSION_KEY].close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
