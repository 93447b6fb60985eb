"""Which real services this machine offers the tests, and what to do when one is missing.

In CI (REQUIRE_SERVICES=1) a missing service fails the run; on a laptop the tests that
need it are skipped with a reason that says what is missing.
"""

import os
import shutil
from functools import cache

import pytest

from portal.probe import tcp_reachable

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@cache
def redis_available() -> bool:
    return tcp_reachable("127.0.0.1", 6379)


@cache
def postgres_available() -> bool:
    return tcp_reachable("127.0.0.1", 5432)


@cache
def chromium_paths() -> tuple[str, str] | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def services_required() -> bool:
    return os.environ.get("REQUIRE_SERVICES") == "1"


def need(available: bool, what: str) -> None:
    if available:
        return
    if services_required():
        pytest.fail(f"{what} is required in CI (REQUIRE_SERVICES=1) but is not available")
    pytest.skip(f"skipped: {what} is not available on this machine")
