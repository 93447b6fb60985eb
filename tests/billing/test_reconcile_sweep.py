"""The payment reconcile sweep checks every claimed payment, and refunds duplicates,
whatever the gateway answers for one of them (it used to stop at the first error)."""

from datetime import timedelta
from typing import cast
from unittest import mock

import pytest
import time_machine
from django.utils import timezone

from billing import services, tasks
from billing.gateways import GatewayError, GatewayRetryableError
from billing.gateways.simulated import SimulatedGateway, simulated_charge_decide
from billing.models import Order, Payment
from tests.factories import OrderFactory

pytestmark = pytest.mark.django_db


def _paid_at_the_gateway(customer) -> Payment:
    order = cast(Order, OrderFactory(customer=customer))  # factory-boy returns the model
    payment = services.payment_start(order=order, return_url_for=lambda p: "/back")
    simulated_charge_decide(reference=payment.gateway_reference, outcome="success")
    return payment


@pytest.mark.parametrize("failure", [GatewayError("unknown charge"),
                                     GatewayRetryableError("connection reset")])
def test_one_payment_the_gateway_cannot_answer_holds_up_none_of_the_others(
        alice, failure, django_capture_on_commit_callbacks):
    payments = [_paid_at_the_gateway(alice) for _ in range(3)]
    broken = payments[0].gateway_reference
    retrieve = SimulatedGateway.charge_retrieve

    def charge_retrieve(self, *, reference):
        if reference == broken:
            raise failure
        return retrieve(self, reference=reference)

    with mock.patch.object(SimulatedGateway, "charge_retrieve", charge_retrieve), \
            mock.patch.object(services, "payment_list_duplicates_to_refund",
                              wraps=services.payment_list_duplicates_to_refund) as refunds, \
            time_machine.travel(timezone.now() + timedelta(minutes=3)), \
            django_capture_on_commit_callbacks(execute=True):
        assert tasks.payment_reconcile_sweep() == 3
    statuses = {p.pk: p.status for p in Payment.objects.all()}
    assert statuses[payments[0].pk] == Payment.Status.CREATED  # still open: asked again later
    assert [statuses[p.pk] for p in payments[1:]] == [Payment.Status.SUCCEEDED] * 2
    assert Order.objects.filter(paid_at__isnull=False).count() == 2
    assert refunds.called  # the duplicate refunds still ran
