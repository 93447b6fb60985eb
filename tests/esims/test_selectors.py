"""Which bundle an eSIM runs, and when its renewal is charged: one selector each
(esims/selectors.py), and every page and run that asks gets the same answer."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from esims import selectors
from esims.models import Bundle, ESim
from renewals import services as renewal_services
from renewals.selectors import renewal_preview
from tests.factories import BundleFactory, auto_renewing_esim

pytestmark = pytest.mark.django_db

GB = 1024 ** 3


def queue_behind(esim, name="Europe month"):
    return BundleFactory(esim=esim, order__customer=esim.owner, order__esim=esim,
                         order__plan__name=name, state=Bundle.State.QUEUED,
                         starts_at=None, ends_at=None)


def card_html(client, esim) -> str:
    page = client.get(reverse("esims:dashboard")).content.decode()
    return page.split(f'id="esim-{esim.pk}"')[1].split("</article>")[0]


def test_all_data_used_with_a_plan_queued_every_reader_agrees(alice, alice_client):
    # The carrier has not reported the end of the running plan yet: it is still active,
    # its data all used, with the next plan waiting behind it.
    esim = auto_renewing_esim(alice)
    running = esim.bundles.get()
    Bundle.objects.filter(pk=running.pk).update(data_used_bytes=running.data_allowance_bytes)
    queued = queue_behind(esim)
    now = timezone.now()

    live = selectors.esim_live_bundles(ESim.objects.get(pk=esim.pk))
    assert selectors.bundle_running(live) == running
    assert selectors.esim_running_bundle(esim=esim) == running
    assert selectors.esim_current_bundle(esim) == running
    assert selectors.bundles_queued(live) == [queued]
    # Renewed already: nothing to charge, however much data is used.
    assert selectors.renewal_charge_at(live, now=now) is None
    assert renewal_services.renewal_run(esim_id=esim.pk) == "renewed"
    assert not esim.orders.filter(kind="renewal").exists()
    assert renewal_preview(esim=ESim.objects.get(pk=esim.pk)).charge_at is None
    # The dashboard shows the running plan used up, and the queued one as next.
    card = card_html(alice_client, esim)
    assert "3.00 GB of 3.00 GB used" in card and "Next: Europe month" in card


def test_once_the_running_plan_is_reported_used_up_the_queued_one_is_shown(
        alice, alice_client):
    esim = auto_renewing_esim(alice)
    Bundle.objects.filter(esim=esim).update(state=Bundle.State.DEPLETED)
    queued = queue_behind(esim)

    live = selectors.esim_live_bundles(esim)
    assert selectors.bundle_running(live) is None
    assert selectors.esim_current_bundle(esim) == queued
    assert selectors.esim_topup_target(esim=esim) is None  # nothing runs to add data to
    assert selectors.renewal_charge_at(live, now=timezone.now()) is None
    assert renewal_services.renewal_run(esim_id=esim.pk) == "renewed"
    card = card_html(alice_client, esim)
    assert "Europe month · Queued" in card and "Next:" not in card
    assert reverse("billing:topup", args=[esim.pk]) not in card


def test_the_charge_time_of_the_running_plan(settings):
    settings.AUTO_RENEW_LEAD_HOURS = 24
    settings.AUTO_RENEW_DATA_PERCENT = 90
    now = timezone.now()
    ends = now + timedelta(days=5)
    week = Bundle(validity_days=7, ends_at=ends, data_allowance_bytes=10 * GB,
                  data_used_bytes=GB, state=Bundle.State.ACTIVE)
    assert selectors.renewal_charge_time(week, now=now) == ends - timedelta(hours=24)
    day_pass = Bundle(validity_days=1, ends_at=ends, data_allowance_bytes=None,
                      data_used_bytes=50 * GB, state=Bundle.State.ACTIVE)  # unlimited
    assert selectors.renewal_charge_time(day_pass, now=now) == ends - timedelta(hours=12)
    week.data_used_bytes = 9 * GB
    assert selectors.renewal_threshold_reached(week)
    assert selectors.renewal_charge_time(week, now=now) == now  # at once
    week.ends_at = None
    assert selectors.renewal_charge_time(week, now=now) is None

    week.ends_at = ends
    queued = Bundle(validity_days=7, state=Bundle.State.QUEUED)
    assert selectors.renewal_charge_at([week], now=now) == now
    assert selectors.renewal_charge_at([week, queued], now=now) is None
    assert selectors.renewal_charge_at([queued], now=now) is None


def test_the_charge_shown_is_the_charge_the_run_waits_for(alice):
    esim = auto_renewing_esim(alice, ends_in=timedelta(days=3))
    ESim.objects.filter(pk=esim.pk).update(auto_renew=False, renew_at=None)
    esim = ESim.objects.get(pk=esim.pk)
    preview = renewal_preview(esim=esim)
    assert preview.charge_at == selectors.renewal_charge_at(
        selectors.esim_live_bundles(esim), now=timezone.now())
    assert preview.charge_at == esim.bundles.get().ends_at - timedelta(hours=24)

    ESim.objects.filter(pk=esim.pk).update(auto_renew=True)
    assert renewal_services.renewal_run(esim_id=esim.pk) == "not_due"
    assert ESim.objects.get(pk=esim.pk).renew_at == preview.charge_at


def test_a_top_up_goes_to_a_running_plan_with_an_allowance(alice):
    running = BundleFactory(esim__owner=alice)
    assert selectors.esim_topup_target(esim=running.esim) == running
    Bundle.objects.filter(pk=running.pk).update(data_allowance_bytes=None)
    assert selectors.esim_topup_target(esim=running.esim) is None


def test_prefetched_bundles_are_read_without_a_query(alice, django_assert_num_queries):
    for _ in range(3):
        queue_behind(BundleFactory(esim__owner=alice).esim)
    esims = list(selectors.esim_list_for_dashboard(owner=alice))
    with django_assert_num_queries(0):
        for esim in esims:
            assert selectors.esim_topup_target(esim=esim) == selectors.esim_current_bundle(esim)
            assert selectors.esim_running_bundle(esim=esim) is not None


def test_the_end_of_the_last_paid_period_counts_the_queued_plans(alice):
    esim = auto_renewing_esim(alice, ends_in=timedelta(days=3))
    running = esim.bundles.get()
    assert selectors.paid_until(selectors.esim_live_bundles(esim)) == running.ends_at
    month = queue_behind(esim)
    Bundle.objects.filter(pk=month.pk).update(validity_days=30)
    live = selectors.esim_live_bundles(ESim.objects.get(pk=esim.pk))
    end = running.ends_at + timedelta(days=30)
    assert selectors.paid_until(live) == end
    assert selectors.bundle_last_paid(live).pk == month.pk
    # A plan bought now runs from that end: the renew page and the reminders agree.
    period = selectors.renewal_period(esim=ESim.objects.get(pk=esim.pk), validity_days=7,
                                      now=timezone.now())
    assert period.starts_at == end and period.ends_at == end + timedelta(days=7)
    # Nothing known while the running plan's end is not (not installed yet).
    Bundle.objects.filter(pk=running.pk).update(ends_at=None)
    assert selectors.paid_until(selectors.esim_live_bundles(esim)) is None


def test_a_skipped_running_bundle_has_no_charge_time(alice):
    esim = auto_renewing_esim(alice, ends_in=timedelta(days=3))
    running = esim.bundles.get()
    live = selectors.esim_live_bundles(esim)
    now = timezone.now()
    assert selectors.renewal_charge_at(live, now=now) is not None
    assert selectors.renewal_charge_at(live, now=now, skipped_bundle_id=running.pk) is None
    assert selectors.renewal_charge_at(live, now=now, skipped_bundle_id=running.pk + 1)
