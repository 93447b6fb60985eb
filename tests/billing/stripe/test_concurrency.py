"""Races between the customer's return and Stripe's webhook, run for real on PostgreSQL
with threads released at the same instant."""

import itertools

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from billing.gateways import get_gateway
from billing.models import GatewayCustomer, GatewayEvent, Order
from esims.models import Bundle, ESim
from tests import services as machine
from tests.billing.test_concurrency import race
from tests.localstripe import CARD_OK

from .conftest import intent_event, signed

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _postgresql_only():
    machine.need(connection.vendor == "postgresql", "PostgreSQL (row locks under real races)")


def test_the_browser_return_racing_the_webhook_pays_once(localstripe, alice, payment, order):
    localstripe.pay(payment.gateway_reference, CARD_OK)
    return_url = reverse("billing:payment_return", args=[order.number, payment.pk])
    body, signature = signed(intent_event("evt_race", "payment_intent.succeeded",
                                          payment.gateway_reference))
    roles = itertools.cycle(["browser", "webhook"])

    def arrive():
        client = Client()
        if next(roles) == "browser":
            client.force_login(alice)
            return client.get(return_url).status_code
        return client.post(reverse("stripe_webhook"), body, content_type="application/json",
                           HTTP_STRIPE_SIGNATURE=signature).status_code

    results, errors = race(arrive, times=6)
    assert errors == [] and sorted(results) == [200] * 3 + [302] * 3
    order.refresh_from_db()
    assert order.paid_at is not None and order.status != Order.Status.PENDING_PAYMENT
    assert ESim.objects.filter(owner=alice).count() == 1
    assert Bundle.objects.filter(order=order).count() == 1
    assert order.receipt is not None
    event = GatewayEvent.objects.get(event_id="evt_race")
    assert event.processed_at is not None


def test_racing_first_payments_make_one_stripe_customer_row(localstripe, alice):
    gateway = get_gateway()
    results, errors = race(lambda: gateway.customer_reference(alice))
    assert errors == []
    stored = GatewayCustomer.objects.get(customer=alice, gateway="stripe").reference
    assert set(results) == {stored}
