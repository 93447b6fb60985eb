from contextlib import contextmanager

import pytest
from django.conf import settings
from django.db import connection

from tests import services
from tests.factories import PlanFactory, UserFactory
from tests.journeys import install_esim


def pytest_report_header(config):
    chromium = services.chromium_paths()
    return [
        f"database: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}"
        + ("" if services.postgres_available() else " (PostgreSQL not reachable: using SQLite)"),
        "redis: " + ("127.0.0.1:6379 (real Celery worker tests run)" if services.redis_available()
                     else "not reachable: real-worker tests are skipped"),
        "browser: " + (f"{chromium[0]} + {chromium[1]}" if chromium
                       else "chromium/chromedriver not installed: browser tests are skipped"),
    ]


def pytest_terminal_summary(terminalreporter):
    skipped = terminalreporter.stats.get("skipped", [])
    if skipped:
        terminalreporter.write_line(
            f"NOTE: {len(skipped)} test(s) skipped because a service is missing here "
            "(see the reasons above); CI runs them all.", yellow=True)


@pytest.fixture
def alice(db):
    """A customer with a confirmed email address."""
    return UserFactory(email="alice@example.com")


@pytest.fixture
def bob(db):
    """Another customer: nothing of Alice's may be visible to him."""
    return UserFactory(email="bob@example.com")


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def carrier(settings):
    """A running carrier simulator, with the portal's client pointed at it."""
    with _simulator(settings) as sim:
        yield sim


@contextmanager
def _simulator(settings, **config):
    from carrier_sim.testing import running_simulator

    with running_simulator(install_after_seconds=-1, tick_seconds=0, **config) as sim:
        settings.CARRIER_URL = sim.url
        settings.CARRIER_API_KEY = sim.api_key
        settings.CARRIER_CALLBACK_SECRET = sim.callback_secret
        yield sim


@pytest.fixture
def db_vendor():
    return connection.vendor


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate limits live in the cache: each test starts with none used."""
    from django.core.cache import caches

    for cache in caches.all():
        cache.clear()
    yield
    for cache in caches.all():
        cache.clear()


@pytest.fixture
def carrier_live(live_server, settings):
    """A simulator that delivers its callbacks to a live portal server."""
    with _simulator(settings, callback_url=live_server.url) as sim:
        yield sim


@pytest.fixture
def plans():
    return {"week": PlanFactory(code="jp-week", name="Japan week", validity_days=7),
            "month": PlanFactory(code="jp-month", name="Japan month", validity_days=30,
                                 prices={"USD": 1800, "EUR": 1700, "CNY": 12800})}


@pytest.fixture
def installed_esim(carrier, alice, plans):
    """Alice's eSIM bought with the week plan, installed (`install_esim`)."""
    return install_esim(carrier, alice, plans["week"])
