"""The new period a plan bought now would run, in words that are true of it
(templates/billing/_period.html, from esims.selectors.renewal_period): "right after your
current plan" only after a running plan, "right after the plan you already bought"
behind a renewal waiting, and from now when nothing runs."""

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from esims import selectors
from esims.models import Bundle, ESim
from tests.factories import BundleFactory, ESimFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 1, 2, 10, 0, tzinfo=UTC)
AFTER_CURRENT = "right after your current plan"
AFTER_QUEUED = "right after the plan you already bought"
FROM_NOW = "Starts as soon as you have paid"


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def shown(client, esim, plan="jp-month") -> str:
    """The renew page's "New period" line, as the customer reads it."""
    page = client.get(reverse("billing:renew", args=[esim.pk]), {"plan": plan})
    assert page.status_code == 200
    html = page.content.decode().split('id="new-period">')[1].split("</p>")[0]
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def running_on(esim, *, ends_at, validity_days=7):
    return BundleFactory(esim=esim, order__customer=esim.owner, order__esim=esim,
                         starts_at=ends_at - timedelta(days=validity_days),
                         ends_at=ends_at, validity_days=validity_days)


def queued_on(esim, *, validity_days=30):
    return BundleFactory(esim=esim, order__customer=esim.owner, order__esim=esim,
                         state=Bundle.State.QUEUED, starts_at=None, ends_at=None,
                         validity_days=validity_days)


def test_after_the_running_plan_it_says_so(alice_client, alice, plans):
    esim = ESimFactory(owner=alice)
    running_on(esim, ends_at=datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    text = shown(alice_client, esim)
    assert "From 5 Jan 2026, 09:00 to 4 Feb 2026, 09:00 (UTC)" in text
    assert AFTER_CURRENT in text and AFTER_QUEUED not in text


def test_behind_a_renewal_already_bought_it_starts_after_that_one(alice_client, alice, plans):
    esim = ESimFactory(owner=alice)
    running_on(esim, ends_at=datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    queued_on(esim, validity_days=7)
    text = shown(alice_client, esim)
    assert "From 12 Jan 2026, 09:00 to 11 Feb 2026, 09:00 (UTC)" in text
    assert AFTER_QUEUED in text and AFTER_CURRENT not in text


def test_an_expired_esim_starts_now(alice_client, alice, plans):
    esim = ESimFactory(owner=alice, state=ESim.State.EXPIRED)
    BundleFactory(esim=esim, order__customer=alice, order__esim=esim,
                  state=Bundle.State.EXPIRED, ends_at=NOW - timedelta(days=2))
    text = shown(alice_client, esim)
    assert FROM_NOW in text and "1 Feb 2026, 10:00" in text
    assert "right after" not in text


def test_an_installed_esim_with_no_plan_running_starts_now(alice_client, alice, plans):
    esim = ESimFactory(owner=alice, state=ESim.State.INSTALLED)
    BundleFactory(esim=esim, order__customer=alice, order__esim=esim,
                  state=Bundle.State.DEPLETED, ends_at=NOW + timedelta(days=3))
    text = shown(alice_client, esim)
    assert FROM_NOW in text and "right after" not in text


def test_a_plan_past_its_end_not_reported_yet_is_not_a_current_plan(alice_client, alice,
                                                                     plans):
    """The carrier's report of the end has not come yet: the plan still reads active
    here, but a period cannot start in the past."""
    esim = ESimFactory(owner=alice)
    running_on(esim, ends_at=NOW - timedelta(hours=1))
    text = shown(alice_client, esim)
    assert FROM_NOW in text and "right after" not in text
    period = selectors.renewal_period(esim=esim, validity_days=30, now=timezone.now())
    assert period.starts_at == NOW and not period.after_current


def test_before_the_first_plan_has_started_no_date_is_promised(alice_client, alice, plans):
    esim = ESimFactory(owner=alice, state=ESim.State.READY, installed_at=None)
    queued_on(esim)
    text = shown(alice_client, esim)
    assert text.endswith("Starts when the plan already on this eSIM ends.")
    assert "right after" not in text


def test_a_paid_renewal_reads_the_same_in_its_message(alice, plans):
    """The order-paid message words a bundle's own period (bundle_expected_period)
    with the same template."""
    from django.template.loader import render_to_string

    esim = ESimFactory(owner=alice)
    running_on(esim, ends_at=datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    first = queued_on(esim, validity_days=7)
    second = queued_on(esim, validity_days=30)
    texts = [render_to_string("billing/_period.html",
                              {"period": selectors.bundle_expected_period(bundle)})
             for bundle in (first, second)]
    assert AFTER_CURRENT in texts[0] and "5 Jan 2026" in texts[0]
    assert AFTER_QUEUED in texts[1] and "12 Jan 2026" in texts[1]
