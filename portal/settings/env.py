"""Read settings from the environment, failing loudly on values that make no sense.

django-environ parses URLs (databases, email); the helpers here cover scalars, where
environ would quietly turn "flase" into False or "10m" into a crash far from its cause.
"""

import os

import environ
from django.core.exceptions import ImproperlyConfigured

_env = environ.Env()
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def env_str(name: str, default: str | None = None) -> str:
    value = os.environ.get(name)
    if value is None or value == "":
        if default is None:
            raise ImproperlyConfigured(f"Set the {name} environment variable.")
        return default
    return value


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if value == "":
        return default
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean; use true or false.")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name, "").strip()
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number.") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} is below the minimum of {minimum}.")
    return value


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    raw = os.environ.get(name, "").strip()
    if raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number.") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} is below the minimum of {minimum}.")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_db(name: str, default: str) -> dict:
    url = os.environ.get(name) or default
    try:
        return _env.db_url_config(url)
    except Exception as exc:  # environ raises several types for a bad URL
        raise ImproperlyConfigured(f"{name} is not a valid database URL: {exc}") from exc


def env_email(name: str, default: str) -> dict:
    url = os.environ.get(name) or default
    try:
        return _env.email_url_config(url)
    except Exception as exc:
        raise ImproperlyConfigured(f"{name} is not a valid email URL: {exc}") from exc
