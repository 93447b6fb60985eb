"""The dashboard says how fresh each usage figure is, and its card cache never serves an
age that has gone stale."""

from datetime import timedelta

import pytest
import time_machine
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from portal.formatting import usage_age
from tests.factories import BundleFactory

pytestmark = pytest.mark.django_db

GB = 1024 ** 3


def dashboard(client) -> str:
    response = client.get(reverse("esims:dashboard"))
    assert response.status_code == 200
    return response.content.decode()


def test_the_card_says_when_usage_was_last_reported(alice_client, alice):
    BundleFactory(esim__owner=alice, usage_reported_at=timezone.now() - timedelta(minutes=12))
    assert "updated 12 min ago" in dashboard(alice_client)


def test_a_plan_never_reported_says_so(alice_client, alice):
    BundleFactory(esim__owner=alice, usage_reported_at=None)
    assert "not reported yet" in dashboard(alice_client)


def test_an_unused_plan_does_not_read_less_than_it_has_left(alice_client, alice):
    BundleFactory(esim__owner=alice, data_allowance_bytes=3 * GB, data_used_bytes=1024)
    page = dashboard(alice_client)
    assert "3.00 GB left" in page and "2.99 GB" not in page


def test_a_cached_card_never_shows_a_stale_age(alice_client, alice):
    start = timezone.now().replace(second=0, microsecond=0)
    with time_machine.travel(start + timedelta(seconds=5), tick=False) as clock:
        BundleFactory(esim__owner=alice, usage_reported_at=start - timedelta(minutes=2))
        assert "updated 2 min ago" in dashboard(alice_client)
        entries = len(caches["cards"]._cache)
        # Within the same minute the page comes from the cache: one query for the facts
        # and nothing rendered again.
        clock.shift(timedelta(seconds=30))
        with CaptureQueriesContext(connection) as cached:
            assert "updated 2 min ago" in dashboard(alice_client)
        assert len(caches["cards"]._cache) == entries
        clock.shift(timedelta(minutes=3))
        with CaptureQueriesContext(connection) as later:
            page = dashboard(alice_client)
        assert "updated 5 min ago" in page and "updated 2 min ago" not in page
        # The new minute made a new card; the same minute again is served from the cache.
        with CaptureQueriesContext(connection) as again:
            assert "updated 5 min ago" in dashboard(alice_client)
        assert len(again.captured_queries) == len(cached.captured_queries)
        assert len(later.captured_queries) > len(cached.captured_queries)


def test_a_new_report_in_the_same_minute_is_shown_at_once(alice_client, alice):
    with time_machine.travel(timezone.now(), tick=False):
        bundle = BundleFactory(esim__owner=alice, usage_reported_at=timezone.now(),
                               data_used_bytes=GB)
        assert "1.00 GB of" in dashboard(alice_client)
        type(bundle).objects.filter(pk=bundle.pk).update(
            data_used_bytes=2 * GB, usage_reported_at=timezone.now())
        assert "2.00 GB of" in dashboard(alice_client)


@pytest.mark.parametrize(("ago", "text"), [
    (timedelta(seconds=-200), "updated just now"),  # a little ahead of our clock
    (timedelta(seconds=59), "updated just now"),
    (timedelta(minutes=1), "updated 1 min ago"),
    (timedelta(minutes=59, seconds=59), "updated 59 min ago"),
    (timedelta(hours=1), "updated 1 hour ago"),
    (timedelta(hours=23, minutes=59), "updated 23 hours ago"),
    (timedelta(days=3, hours=5), "updated 3 days ago"),
])
def test_the_age_reads_in_steps(ago, text):
    now = timezone.now()
    with translation.override("en"):
        assert usage_age(now - ago, now) == text
        assert usage_age(None, now) == "not reported yet"
