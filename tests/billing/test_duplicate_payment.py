"""An order paid twice (two tabs, two methods): the second payment is given back through
the gateway once, without anyone asking, and the customer is told."""

from datetime import timedelta
from unittest import mock

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from billing import services, tasks
from billing.gateways import GatewayError, GatewayRetryableError
from billing.gateways.simulated import SimulatedGateway, simulated_charge_decide
from billing.models import Order, Payment, Receipt, SimulatedCharge
from notifications.models import Notification
from portal.formatting import money
from tests.factories import OrderFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def paid_twice(alice, django_capture_on_commit_callbacks):
    """An order paid in one tab, then (half an hour later) again in another: returns the
    order and the second payment, its return not taken in yet."""
    order = OrderFactory(customer=alice)
    first = services.payment_start(order=order, return_url_for=lambda p: "/back")
    with time_machine.travel(timezone.now() + timedelta(minutes=31)):
        second = services.payment_start(order=order, return_url_for=lambda p: "/back")
    assert first.pk != second.pk
    for payment in (first, second):
        simulated_charge_decide(reference=payment.gateway_reference, outcome="success")
    with django_capture_on_commit_callbacks(execute=True):
        services.payment_sync(payment_id=first.pk)
    mail.outbox.clear()
    return order, second


def test_the_second_payment_is_refunded_once_and_the_customer_told(
        paid_twice, django_capture_on_commit_callbacks):
    order, second = paid_twice
    for _ in range(3):  # the return, a webhook and the sweep, say
        with django_capture_on_commit_callbacks(execute=True):
            services.payment_sync(payment_id=second.pk)
        with django_capture_on_commit_callbacks(execute=True):
            services.payment_refund_duplicate(payment_id=second.pk)

    second.refresh_from_db()
    assert (second.status, second.failure_code) == (Payment.Status.FAILED, "paid_twice")
    assert second.refunded_at is not None and second.refund_reference
    charge = SimulatedCharge.objects.get(reference=second.gateway_reference)
    assert charge.status == SimulatedCharge.Status.REFUNDED
    # The order is paid once, with one receipt; its own payment is untouched.
    order.refresh_from_db()
    assert order.paid_at is not None and Receipt.objects.filter(order=order).count() == 1
    assert order.payments.get(status=Payment.Status.SUCCEEDED).pk != second.pk
    assert Notification.objects.filter(kind="duplicate_refunded").count() == 1
    assert len(mail.outbox) == 1
    assert order.number in mail.outbox[0].subject
    amount = money(second.amount_minor, second.currency)
    assert f"we have refunded the second payment of {amount}" in mail.outbox[0].body


def test_a_refund_the_gateway_could_not_take_is_made_by_the_sweep(
        paid_twice, django_capture_on_commit_callbacks):
    order, second = paid_twice
    with mock.patch.object(SimulatedGateway, "charge_refund",
                           side_effect=GatewayRetryableError("connection reset")), \
            django_capture_on_commit_callbacks(execute=True):
        services.payment_sync(payment_id=second.pk)
    second.refresh_from_db()
    assert second.failure_code == "paid_twice" and second.refunded_at is None

    with time_machine.travel(timezone.now() + timedelta(minutes=11)), \
            django_capture_on_commit_callbacks(execute=True):
        tasks.payment_reconcile_sweep()
    second.refresh_from_db()
    assert second.refunded_at is not None
    assert Notification.objects.filter(kind="duplicate_refunded").count() == 1


def test_a_refund_the_gateway_refuses_is_left_to_support(
        paid_twice, django_capture_on_commit_callbacks):
    order, second = paid_twice
    with mock.patch.object(SimulatedGateway, "charge_refund",
                           side_effect=GatewayError("charge is disputed")), \
            django_capture_on_commit_callbacks(execute=True):
        services.payment_sync(payment_id=second.pk)
    second.refresh_from_db()
    assert second.failure_code == "paid_twice_refund_refused"
    assert "disputed" in second.failure_message and second.refunded_at is None
    # Asking the gateway again changes nothing; the sweep leaves it alone (support
    # refunds it by hand), and nobody was told yet.
    with django_capture_on_commit_callbacks(execute=True):
        services.payment_sync(payment_id=second.pk)
    assert Payment.objects.get(pk=second.pk).failure_code == "paid_twice_refund_refused"
    assert services.payment_list_duplicates_to_refund(quiet_for=timedelta(0)) == []
    assert not Notification.objects.filter(kind="duplicate_refunded").exists()
    assert Order.objects.get(pk=order.pk).paid_at is not None
