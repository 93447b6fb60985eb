"""Settings of the carrier simulator, read from the environment.

Every value has a default so `python -m carrier_sim` runs with no setup; a value
that is set but cannot be used stops the process with the variable's name,
because a simulator silently running with the wrong failure rate would make a
test prove the wrong thing.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


class ConfigError(ValueError):
    """A setting has a value the simulator cannot work with."""


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8100
    db_path: str = "var/carrier_sim.sqlite3"
    callback_url: str = ""
    callback_secret: str = "dev-callback-secret"  # noqa: S105 - documented dev default
    api_key: str = "dev-carrier-key"
    smdp_address: str = "smdp.carrier-sim.example"
    requester_id: str = "carrier-sim-smdp"
    control_enabled: bool = True
    latency_ms: int = 0
    failure_rate: float = 0.0
    timeout_rate: float = 0.0
    timeout_seconds: float = 30.0
    drop_callback_rate: float = 0.0
    install_after_seconds: float = 20.0
    usage_bytes_per_second: int = 20000
    usage_report_seconds: float = 60.0
    usage_lag_seconds: float = 120.0
    tick_seconds: float = 1.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, var in ENV_VARS.items():
            raw = environ.get(var)
            if raw is not None and raw.strip() != "":
                values[name] = _parse(name, raw.strip(), source=var)
            elif raw is not None and name == "callback_url":
                values[name] = ""  # explicitly empty: send no callbacks
        return cls().replace(**values)

    def replace(self, **changes: Any) -> Settings:
        """Return a copy with `changes` applied and checked, whatever their type."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        checked = {name: _parse(name, value, source=name) for name, value in changes.items()}
        return dataclasses.replace(self, **checked)

    def public(self) -> dict[str, Any]:
        """Settings an unauthenticated control client may see: no secrets."""
        data = dataclasses.asdict(self)
        data.pop("api_key")
        data.pop("callback_secret")
        return data


# Settings that POST /sim/config may change while the simulator runs.
RUNTIME_FIELDS = frozenset(
    {
        "callback_url",
        "latency_ms",
        "failure_rate",
        "timeout_rate",
        "timeout_seconds",
        "drop_callback_rate",
        "install_after_seconds",
        "usage_bytes_per_second",
        "usage_report_seconds",
        "usage_lag_seconds",
    }
)

ENV_VARS = {
    "host": "CARRIER_SIM_HOST",
    "port": "CARRIER_SIM_PORT",
    "db_path": "CARRIER_SIM_DB",
    "callback_url": "CARRIER_SIM_CALLBACK_URL",
    "callback_secret": "CARRIER_CALLBACK_SECRET",
    "api_key": "CARRIER_API_KEY",
    "smdp_address": "CARRIER_SIM_SMDP_ADDRESS",
    "requester_id": "CARRIER_SIM_REQUESTER_ID",
    "control_enabled": "CARRIER_SIM_CONTROL",
    "latency_ms": "CARRIER_SIM_LATENCY_MS",
    "failure_rate": "CARRIER_SIM_FAILURE_RATE",
    "timeout_rate": "CARRIER_SIM_TIMEOUT_RATE",
    "timeout_seconds": "CARRIER_SIM_TIMEOUT_SECONDS",
    "drop_callback_rate": "CARRIER_SIM_DROP_CALLBACK_RATE",
    "install_after_seconds": "CARRIER_SIM_INSTALL_AFTER_SECONDS",
    "usage_bytes_per_second": "CARRIER_SIM_USAGE_BYTES_PER_SECOND",
    "usage_report_seconds": "CARRIER_SIM_USAGE_REPORT_SECONDS",
    "usage_lag_seconds": "CARRIER_SIM_USAGE_LAG_SECONDS",
    "tick_seconds": "CARRIER_SIM_TICK_SECONDS",
}


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    return value


def _nonempty(value: Any) -> str:
    if not _text(value).strip():
        raise ValueError("must not be empty")
    return value.strip()


def _integer(minimum: int, maximum: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        try:
            if isinstance(value, bool):
                raise ValueError
            number = int(value)  # int("1.5") and int(None) raise, as they should
            if isinstance(value, float) and value != number:
                raise ValueError
        except (TypeError, ValueError, OverflowError):  # OverflowError: int(inf)
            raise ValueError("must be a whole number") from None
        if not minimum <= number <= maximum:
            raise ValueError(f"must be between {minimum} and {maximum}")
        return number

    return parse


def _number(minimum: float, maximum: float) -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        try:
            if isinstance(value, bool):
                raise ValueError
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError("must be a number") from None
        if number != number or not minimum <= number <= maximum:  # NaN fails both
            raise ValueError(f"must be between {minimum} and {maximum}")
        return number

    return parse


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ValueError("must be 1/0, true/false, yes/no or on/off")


def _url(value: Any) -> str:
    text = _text(value).strip().rstrip("/")
    if not text:
        return ""
    parts = urlsplit(text)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError("must be an http(s) URL such as http://127.0.0.1:8000, or empty")
    return text


_DAY = 86400.0
PARSERS: dict[str, Callable[[Any], Any]] = {
    "host": _nonempty,
    "port": _integer(0, 65535),
    "db_path": _nonempty,
    "callback_url": _url,
    "callback_secret": _nonempty,
    "api_key": _nonempty,
    "smdp_address": _nonempty,
    "requester_id": _nonempty,
    "control_enabled": _flag,
    "latency_ms": _integer(0, 600_000),
    "failure_rate": _number(0.0, 1.0),
    "timeout_rate": _number(0.0, 1.0),
    "timeout_seconds": _number(0.0, 3600.0),
    "drop_callback_rate": _number(0.0, 1.0),
    # Negative means "never by itself": only POST /sim/profiles/<iccid>/download installs.
    "install_after_seconds": _number(-1e9, 30 * _DAY),
    "usage_bytes_per_second": _integer(0, 10**12),
    # 0 switches periodic usage reports off; state changes are still reported.
    "usage_report_seconds": _number(0.0, 30 * _DAY),
    # A real carrier counts usage from its network records, which come in late: what it
    # reports is the use of this many seconds ago, and says so (usage_at, reported_at).
    "usage_lag_seconds": _number(0.0, _DAY),
    # 0 means no background thread: the caller drives time with POST /sim/tick.
    "tick_seconds": _number(0.0, 3600.0),
}


def _parse(name: str, value: Any, *, source: str) -> Any:
    try:
        return PARSERS[name](value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}={value!r}: {exc}") from None


def settings_build(
    config: Settings | Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Settings for create_app: env first, then the caller's overrides on top."""
    if isinstance(config, Settings):
        return config
    return Settings.from_env(environ).replace(**dict(config or {}))
