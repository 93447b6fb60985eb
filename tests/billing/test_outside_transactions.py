"""Gateway and carrier calls never run inside a database transaction: a lock held while
the other side takes its time would stall every request for that order."""

import pytest
from django.db import connection, transaction

from billing import services
from billing.gateways import get_gateway
from billing.gateways.simulated import SimulatedGateway
from carrier import client
from portal.errors import CallInsideTransaction
from tests.factories import OrderFactory


@pytest.mark.django_db(transaction=True)
def test_starting_a_payment_calls_the_gateway_with_no_transaction_open(alice, monkeypatch):
    seen = []
    start = SimulatedGateway.charge_start

    def charge_start(self, **kwargs):
        seen.append(connection.in_atomic_block)
        return start(self, **kwargs)

    monkeypatch.setattr(SimulatedGateway, "charge_start", charge_start)
    order = OrderFactory(customer=alice)
    payment = services.payment_start(order=order, return_url_for=lambda p: "/back")
    assert seen == [False]
    assert payment.gateway_reference
    # A second click reuses the payment and does not call the gateway again.
    assert services.payment_start(order=order, return_url_for=lambda p: "/back") == payment
    assert seen == [False]


@pytest.mark.django_db
def test_a_gateway_call_inside_a_transaction_is_refused(alice):
    payment = services.payment_start(order=OrderFactory(customer=alice),
                                     return_url_for=lambda p: "/back")
    with pytest.raises(CallInsideTransaction), transaction.atomic():
        get_gateway().charge_retrieve(reference=payment.gateway_reference)


@pytest.mark.django_db
def test_a_carrier_call_inside_a_transaction_is_refused():
    with pytest.raises(CallInsideTransaction), transaction.atomic():
        client.profile_get(iccid="8901234567890123452")
