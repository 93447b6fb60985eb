"""Races that a double click, a slow network or two tabs produce, run for real on
PostgreSQL with threads released at the same instant."""

import threading
import uuid

import pytest
from django.db import connection, connections

from billing import services
from billing.gateways.simulated import simulated_charge_decide
from billing.models import Order, Payment
from esims.models import Bundle, ESim
from tests import services as machine
from tests.factories import OrderFactory, PlanFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _postgresql_only():
    machine.need(connection.vendor == "postgresql", "PostgreSQL (row locks under real races)")


def race(fn, times=4):
    """Run fn in `times` threads released together; return results and errors."""
    barrier = threading.Barrier(times)
    results, errors = [], []

    def run():
        try:
            barrier.wait()
            results.append(fn())
        except Exception as exc:  # collected and asserted on by the test
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results, errors


def test_racing_returns_pay_the_order_once(alice):
    order = OrderFactory(customer=alice)
    payment = services.payment_start(order=order, return_url_for=lambda p: "/back")
    simulated_charge_decide(reference=payment.gateway_reference, outcome="success")

    results, errors = race(lambda: services.payment_sync(payment_id=payment.pk).status)
    assert errors == [] and set(results) == {"succeeded"}
    assert ESim.objects.filter(owner=alice).count() == 1
    assert Bundle.objects.filter(order=order).count() == 1
    assert Order.objects.get(pk=order.pk).paid_at is not None


def test_racing_order_forms_with_one_key_make_one_order(alice):
    plan = PlanFactory()
    key = str(uuid.uuid4())
    results, errors = race(lambda: services.order_create_new_esim(
        customer=alice, plan=plan, currency="USD", amount_minor=800, nickname="Phone",
        idempotency_key=key).pk)
    assert errors == [] and len(set(results)) == 1
    assert Order.objects.filter(customer=alice).count() == 1


def test_racing_pay_buttons_open_one_payment(alice):
    order = OrderFactory(customer=alice)
    results, errors = race(lambda: services.payment_start(
        order=order, return_url_for=lambda p: "/back").pk)
    assert errors == [] and len(set(results)) == 1
    assert Payment.objects.filter(order=order).count() == 1
