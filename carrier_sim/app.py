"""Flask application factory for the carrier simulator."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, Response
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException

from . import bundles, control, es2plus
from .bundles import error_response
from .config import Settings, settings_build
from .simulator import EXTENSION_KEY, Simulator

MAX_BODY_BYTES = 1024 * 1024


class _JSONProvider(DefaultJSONProvider):
    sort_keys = False  # keep the documented field order on the wire


def create_app(config: Settings | Mapping[str, Any] | None = None) -> Flask:
    """Build the simulator app.

    `config` is a Settings or a mapping of Settings field names (db_path,
    callback_url, failure_rate, ...) applied on top of the environment. The
    engine thread starts here when tick_seconds > 0; stop it with
    `app.extensions["carrier_sim"].close()`.
    """
    settings = settings_build(config)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json = _JSONProvider(app)
    sim = Simulator(settings)
    app.extensions[EXTENSION_KEY] = sim
    app.register_blueprint(es2plus.bp)
    app.register_blueprint(bundles.bp)
    app.register_blueprint(control.bp)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response:
        # 404/405/413 and friends answer in the API's JSON shape, never as HTML.
        code = (error.name or "error").lower().replace(" ", "_")
        return error_response(error.code or 500, code, error.description or str(error))

    sim.start()
    return app
