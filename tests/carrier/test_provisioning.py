"""Provisioning a paid order at the carrier simulator, over real HTTP."""

import pytest
from django.utils import timezone

from billing import services, tasks
from billing.models import Order
from carrier.client import CarrierRejected, CarrierUnavailable
from esims.models import Bundle, ESim
from tests.factories import paid_new_esim_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def paid_order(alice):
    order = paid_new_esim_order(alice)
    return order


def test_activation_provisions_a_profile_and_applies_the_bundle(carrier, paid_order):
    order = services.order_activate(order_id=paid_order.pk)
    assert order.status == Order.Status.COMPLETED
    esim = ESim.objects.get(pk=paid_order.esim_id)
    assert esim.state == ESim.State.READY
    assert len(esim.iccid) in (19, 20) and esim.iccid.startswith("89")
    assert esim.matching_id and esim.smdp_address
    assert esim.lpa_uri == f"LPA:1${esim.smdp_address}${esim.matching_id}"
    bundle = Bundle.objects.get(order=order)
    assert bundle.applied_at is not None
    assert bundle.state == Bundle.State.QUEUED  # starts when the device installs it


def test_repeated_activation_changes_nothing_twice(carrier, paid_order):
    services.order_activate(order_id=paid_order.pk)
    esim = ESim.objects.get(pk=paid_order.esim_id)
    # Run again from scratch as if the first run's results had not been recorded.
    Order.objects.filter(pk=paid_order.pk).update(status=Order.Status.ACTIVATING)
    services.order_activate(order_id=paid_order.pk)
    tasks.order_activate.delay(paid_order.pk)
    again = ESim.objects.get(pk=paid_order.esim_id)
    assert (again.iccid, again.matching_id) == (esim.iccid, esim.matching_id)
    assert Bundle.objects.filter(esim=again).count() == 1
    # A late duplicate of the task finds the order completed and leaves it be.
    attempts = Order.objects.get(pk=paid_order.pk).activation_attempts
    tasks.order_activate.delay(paid_order.pk)
    assert Order.objects.get(pk=paid_order.pk).activation_attempts == attempts


def test_lost_answer_retried_with_the_same_call_gets_the_same_profile(carrier, paid_order):
    """The carrier reserved a profile but our record of it was lost (worker died)."""
    from carrier import client

    first = client.es2_download_order(call_id=f"{paid_order.number}:downloadOrder")
    services.order_activate(order_id=paid_order.pk)
    assert ESim.objects.get(pk=paid_order.esim_id).iccid == first


def test_carrier_down_keeps_the_order_waiting_then_completes(carrier, paid_order):
    carrier.configure(failure_rate=1.0)
    with pytest.raises(CarrierUnavailable):
        services.order_activate(order_id=paid_order.pk)
    order = Order.objects.get(pk=paid_order.pk)
    assert order.status == Order.Status.ACTIVATING and order.activation_attempts == 1
    # The task swallows it (the retry or the sweep will run it again): nothing is lost.
    tasks.order_activate.delay(paid_order.pk)
    assert Order.objects.get(pk=paid_order.pk).status == Order.Status.ACTIVATING

    carrier.configure(failure_rate=0.0)
    tasks.order_activate.delay(paid_order.pk)
    order = Order.objects.get(pk=paid_order.pk)
    assert order.status == Order.Status.COMPLETED and order.activation_attempts == 3


def test_carrier_too_slow_is_a_retryable_timeout(carrier, paid_order, settings):
    settings.CARRIER_TIMEOUT_SECONDS = 0.3
    carrier.configure(latency_ms=1000)
    with pytest.raises(CarrierUnavailable):
        services.order_activate(order_id=paid_order.pk)
    carrier.configure(latency_ms=0)
    settings.CARRIER_TIMEOUT_SECONDS = 5
    assert services.order_activate(order_id=paid_order.pk).status == Order.Status.COMPLETED


def test_carrier_refusal_fails_the_order_for_support(carrier, paid_order, settings):
    settings.CARRIER_API_KEY = "wrong-key"
    with pytest.raises(CarrierRejected):
        services.order_activate(order_id=paid_order.pk)
    tasks.order_activate.delay(paid_order.pk)
    order = Order.objects.get(pk=paid_order.pk)
    assert order.status == Order.Status.FAILED and order.failure_reason


def test_carrier_failing_past_the_limit_fails_the_order(carrier, paid_order, settings):
    settings.ACTIVATION_GIVE_UP_AFTER_HOURS = 1
    Order.objects.filter(pk=paid_order.pk).update(
        paid_at=timezone.now() - timezone.timedelta(hours=2))
    carrier.configure(failure_rate=1.0)
    tasks.order_activate.delay(paid_order.pk)
    assert Order.objects.get(pk=paid_order.pk).status == Order.Status.FAILED


def test_sweep_picks_up_stalled_orders_once(carrier, paid_order):
    Order.objects.filter(pk=paid_order.pk).update(
        paid_at=timezone.now() - timezone.timedelta(hours=1))
    claimed = services.order_activation_claim_stalled(older_than=timezone.timedelta(minutes=10))
    assert claimed == [paid_order.pk]
    # A second sweep at the same moment finds it claimed.
    assert services.order_activation_claim_stalled(
        older_than=timezone.timedelta(minutes=10)) == []
    assert tasks.order_activation_sweep() == 0
    tasks.order_activate.delay(paid_order.pk)
    assert Order.objects.get(pk=paid_order.pk).status == Order.Status.COMPLETED


def test_worker_dying_after_confirm_order_gets_the_same_matching_id(carrier, paid_order):
    """confirmOrder went through at the carrier, then the worker died before saving."""
    from carrier import client

    iccid = client.es2_download_order(call_id=f"{paid_order.number}:downloadOrder")
    ESim.objects.filter(pk=paid_order.esim_id).update(iccid=iccid)
    lost = client.es2_confirm_order(iccid=iccid, call_id=f"{paid_order.number}:confirmOrder")
    services.order_activate(order_id=paid_order.pk)
    esim = ESim.objects.get(pk=paid_order.esim_id)
    assert esim.matching_id == lost.matching_id
    assert Order.objects.get(pk=paid_order.pk).status == Order.Status.COMPLETED
