"""The auto-renewal page always says when the next charge is, how much for which plan,
and the period it buys, in the customer's time zone: also when a renewal is bought
already and waits (renewals.selectors.renewal_preview, docs/renewals.md)."""

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from esims.models import Bundle, ESim
from esims.services import esims_renewal_settled
from renewals import services
from renewals.selectors import renewal_preview
from tests.factories import BundleFactory, auto_renewing_esim

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 1, 2, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def status_text(client, esim) -> str:
    page = client.get(reverse("renewals:settings", args=[esim.pk])).content.decode()
    html = page.split('id="auto-renew-status">')[1].split('<div class="card">')[0]
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def queue_renewal(esim, *, validity_days=7):
    """A renewal bought (by hand) and waiting behind the running plan."""
    bundle = BundleFactory(esim=esim, order__customer=esim.owner, order__esim=esim,
                           order__kind="renewal", state=Bundle.State.QUEUED, starts_at=None,
                           ends_at=None, validity_days=validity_days)
    esims_renewal_settled(esim_ids=[esim.pk])
    return bundle


def test_the_next_charge_and_the_period_it_buys(alice, alice_client, plans):
    esim = auto_renewing_esim(alice, plan=plans["month"], ends_in=timedelta(days=3))
    # The running plan ends on 5 Jan 10:00; the charge is a day before.
    assert esim.renew_at == datetime(2026, 1, 4, 10, 0, tzinfo=UTC)
    text = status_text(alice_client, esim)
    assert ("Next charge: 4 Jan 2026, 10:00 (UTC) — US$18.00 for Japan month, from "
            "5 Jan 2026, 10:00 to 4 Feb 2026, 10:00.") in text
    assert "right after your current plan" in text


def test_with_a_renewal_waiting_it_gives_the_charge_after_that_one(alice, alice_client,
                                                                    plans):
    esim = auto_renewing_esim(alice, plan=plans["month"], ends_in=timedelta(days=3))
    queue_renewal(esim, validity_days=7)
    esim = ESim.objects.get(pk=esim.pk)
    assert esim.renew_at is None  # nothing due until the waiting plan runs
    # The waiting week runs 5 Jan 10:00 to 12 Jan 10:00: its renewal is charged a day
    # before it ends, and buys the month after it.
    text = status_text(alice_client, esim)
    assert ("Next charge: 11 Jan 2026, 10:00 (UTC) — US$18.00 for Japan month, from "
            "12 Jan 2026, 10:00 to 11 Feb 2026, 10:00.") in text
    assert "right after the plan you already bought" in text
    assert "set once the plan" not in text
    # The sweep agrees once that plan runs: the estimate is the charge it will make.
    running = esim.bundles.get(state=Bundle.State.ACTIVE)
    waiting = esim.bundles.get(state=Bundle.State.QUEUED)
    Bundle.objects.filter(pk=running.pk).update(state=Bundle.State.EXPIRED)
    Bundle.objects.filter(pk=waiting.pk).update(
        state=Bundle.State.ACTIVE, starts_at=running.ends_at,
        ends_at=running.ends_at + timedelta(days=7), data_used_bytes=0)
    from esims.services import esim_renewal_schedule

    esim_renewal_schedule(esim_id=esim.pk)
    assert ESim.objects.get(pk=esim.pk).renew_at == datetime(2026, 1, 11, 10, 0, tzinfo=UTC)


def test_a_short_plan_waiting_is_charged_half_way_through(alice, alice_client, plans):
    """The lead is at most half the plan: a day pass waiting is renewed 12 hours in."""
    esim = auto_renewing_esim(alice, plan=plans["month"], ends_in=timedelta(days=3))
    queue_renewal(esim, validity_days=1)
    preview = renewal_preview(esim=ESim.objects.get(pk=esim.pk))
    assert preview.charge_at is None  # nothing is due for the sweep now
    assert preview.next_charge_at == datetime(2026, 1, 5, 22, 0, tzinfo=UTC)
    assert preview.period.starts_at == datetime(2026, 1, 6, 10, 0, tzinfo=UTC)


def test_in_the_customers_time_zone(alice, alice_client, plans):
    alice.time_zone = "Asia/Shanghai"
    alice.save()
    esim = auto_renewing_esim(alice, plan=plans["month"], ends_in=timedelta(days=3))
    queue_renewal(esim)
    text = status_text(alice_client, esim)
    assert ("Next charge: 11 Jan 2026, 18:00 (Asia/Shanghai) — US$18.00 for Japan month, "
            "from 12 Jan 2026, 18:00 to 11 Feb 2026, 18:00.") in text


def test_in_chinese(alice, alice_client, plans):
    alice.language = "zh-hans"
    alice.save()
    esim = auto_renewing_esim(alice, plan=plans["month"], ends_in=timedelta(days=3))
    queue_renewal(esim)
    text = status_text(alice_client, esim)
    assert "2026年1月11日 10:00" in text and "2026年1月12日 10:00" in text
    assert "¥" not in text and "US$18.00" in text


def test_a_skipped_renewal_says_nothing_is_charged(alice, alice_client, plans):
    esim = auto_renewing_esim(alice, plan=plans["month"], ends_in=timedelta(days=3))
    services.renewal_skip(esim=esim, bundle_id=esim.bundles.get().pk)
    text = status_text(alice_client, ESim.objects.get(pk=esim.pk))
    assert "You skipped the renewal of the current plan" in text
    assert "Next charge" not in text


def test_switched_off_it_says_what_switching_on_would_charge(alice, alice_client, plans):
    esim = auto_renewing_esim(alice, plan=plans["month"], ends_in=timedelta(days=3))
    services.auto_renew_switch_off(esim=esim)
    text = status_text(alice_client, ESim.objects.get(pk=esim.pk))
    assert "Switched on now, it would charge:" in text
    assert "Next charge: 4 Jan 2026, 10:00 (UTC) — US$18.00 for Japan month" in text


def test_not_installed_yet_no_date_is_promised(alice, alice_client, plans):
    esim = auto_renewing_esim(alice, plan=plans["month"], ends_in=timedelta(days=3))
    Bundle.objects.filter(esim=esim).update(state=Bundle.State.QUEUED, starts_at=None,
                                            ends_at=None)
    ESim.objects.filter(pk=esim.pk).update(renew_at=None)
    text = status_text(alice_client, ESim.objects.get(pk=esim.pk))
    assert "The next charge is set once the plan on this eSIM is running." in text
