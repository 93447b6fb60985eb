"""Carrier simulator: an SM-DP+ speaking ES2+ and a reseller-style bundle API.

A separate HTTP service with its own SQLite storage; the portal reaches it only
over HTTP. See `create_app` and `python -m carrier_sim`.
"""

from .app import create_app
from .config import ConfigError, Settings

__all__ = ["ConfigError", "Settings", "create_app"]
