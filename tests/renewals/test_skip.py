""""Skip this renewal" (the signed link in an expiry reminder): no charge follows the
running plan the customer skipped, auto-renewal stays on and follows the next plan they
buy; a repeated skip changes nothing, and a bundle that is not the eSIM's running one
(another customer's, one waiting, one ended) is refused."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from billing.models import Order
from esims import selectors
from esims.models import Bundle, ESim
from esims.services import esim_renewal_schedule
from notifications.models import Notification
from renewals import services
from renewals.selectors import renewal_preview
from renewals.services import RenewalError, RenewalOutcome
from tests.factories import BundleFactory, auto_renewing_esim

pytestmark = pytest.mark.django_db


def running(esim: ESim) -> Bundle:
    return esim.bundles.get(state=Bundle.State.ACTIVE)


def test_a_skipped_renewal_is_not_charged_and_auto_renewal_stays_on(alice):
    esim = auto_renewing_esim(alice, ends_in=timedelta(days=3))
    bundle = running(esim)
    assert esim.renew_at is not None and esim.renewal_notice_at is not None

    assert services.renewal_skip(esim=esim, bundle_id=bundle.pk) is True

    esim.refresh_from_db()
    assert esim.auto_renew and esim.renewal_skipped_bundle_id == bundle.pk
    # Nothing is scheduled for this cycle: no charge, no notice of one.
    assert esim.renew_at is None and esim.renewal_notice_at is None
    assert selectors.esim_renewal_charge_at(esim, now=timezone.now()) is None
    assert renewal_preview(esim=esim).charge_at is None
    # Even when a run or a batch looks at it when the charge would have been due.
    with time_machine.travel(bundle.ends_at - timedelta(hours=1), tick=False):
        assert services.renewal_run(esim_id=esim.pk) == RenewalOutcome.SKIPPED
        assert services.renewal_run_many(esim_ids=[esim.pk]) == {
            esim.pk: RenewalOutcome.SKIPPED}
        ESim.objects.filter(pk=esim.pk).update(renewal_notice_at=timezone.now())
        services.renewal_notices_send_due()
    # And after the plan has ended too (the cycle is still the skipped bundle's).
    Bundle.objects.filter(pk=bundle.pk).update(state=Bundle.State.EXPIRED)
    with time_machine.travel(bundle.ends_at + timedelta(hours=1), tick=False):
        assert services.renewal_run(esim_id=esim.pk) == RenewalOutcome.SKIPPED
    assert not Order.objects.filter(kind=Order.Kind.RENEWAL).exists()
    assert not Notification.objects.filter(kind=Notification.Kind.RENEWAL_UPCOMING).exists()
    assert ESim.objects.get(pk=esim.pk).auto_renew


def test_without_the_skip_the_same_run_charges(alice):
    # The control for the test above: the same eSIM at the same time is charged.
    esim = auto_renewing_esim(alice, ends_in=timedelta(days=3))
    with time_machine.travel(running(esim).ends_at - timedelta(hours=1), tick=False):
        assert services.renewal_run(esim_id=esim.pk) == RenewalOutcome.PAID


def test_a_repeated_skip_is_harmless(alice):
    esim = auto_renewing_esim(alice, ends_in=timedelta(days=3))
    bundle = running(esim)
    assert services.renewal_skip(esim=esim, bundle_id=bundle.pk) is True
    assert services.renewal_skip(esim=esim, bundle_id=bundle.pk) is False
    esim.refresh_from_db()
    assert esim.renewal_skipped_bundle_id == bundle.pk and esim.auto_renew
    assert esim.renew_at is None


def test_another_customers_bundle_is_refused(alice, bob):
    alices = auto_renewing_esim(alice, ends_in=timedelta(days=3))
    bobs = auto_renewing_esim(bob, ends_in=timedelta(days=3))
    with pytest.raises(RenewalError):
        services.renewal_skip(esim=alices, bundle_id=running(bobs).pk)
    with pytest.raises(RenewalError):
        services.renewal_skip(esim=bobs, bundle_id=running(alices).pk)
    for esim in (alices, bobs):
        esim.refresh_from_db()
        assert esim.renewal_skipped_bundle_id is None and esim.renew_at is not None


def test_a_bundle_not_running_or_a_cycle_paid_already_is_refused(alice):
    esim = auto_renewing_esim(alice, ends_in=timedelta(days=3))
    queued = BundleFactory(esim=esim, order__customer=alice, state=Bundle.State.QUEUED,
                           starts_at=None, ends_at=None)
    with pytest.raises(RenewalError):
        services.renewal_skip(esim=esim, bundle_id=queued.pk)
    with pytest.raises(RenewalError):  # renewed already: the next plan is paid for
        services.renewal_skip(esim=esim, bundle_id=running(esim).pk)
    with pytest.raises(RenewalError):
        services.renewal_skip(esim=esim, bundle_id=0)
    assert ESim.objects.get(pk=esim.pk).renewal_skipped_bundle_id is None


def test_auto_renewal_follows_the_next_plan_bought_after_a_skip(alice):
    esim = auto_renewing_esim(alice, ends_in=timedelta(days=3))
    skipped = running(esim)
    services.renewal_skip(esim=esim, bundle_id=skipped.pk)
    # The customer buys a plan by hand; it starts when the skipped one ends.
    bought = BundleFactory(esim=esim, order__customer=alice, order__kind=Order.Kind.RENEWAL,
                           state=Bundle.State.QUEUED, starts_at=None, ends_at=None)
    Bundle.objects.filter(pk=skipped.pk).update(state=Bundle.State.EXPIRED)
    Bundle.objects.filter(pk=bought.pk).update(
        state=Bundle.State.ACTIVE, starts_at=skipped.ends_at,
        ends_at=skipped.ends_at + timedelta(days=7))
    esim_renewal_schedule(esim_id=esim.pk)  # as when the carrier reports it started
    esim.refresh_from_db()
    assert esim.auto_renew and esim.renew_at is not None
    with time_machine.travel(esim.renew_at + timedelta(minutes=1), tick=False):
        assert services.renewal_run(esim_id=esim.pk) == RenewalOutcome.PAID
    renewal = Order.objects.get(kind=Order.Kind.RENEWAL, idempotency_key__startswith="auto")
    assert f":{bought.pk}:" in renewal.idempotency_key
