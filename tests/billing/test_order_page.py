from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from billing.models import Order
from esims.models import ESim
from tests.factories import ESimFactory, OrderFactory

pytestmark = pytest.mark.django_db


def progress(client, order):
    return client.get(reverse("billing:order_progress", args=[order.number]))


def test_order_page_shows_each_step_and_keeps_polling_until_settled(alice_client, alice):
    esim = ESimFactory(owner=alice, state=ESim.State.PROVISIONING, iccid=None)
    order = OrderFactory(customer=alice, esim=esim, status=Order.Status.ACTIVATING,
                         paid_at=timezone.now())
    page = alice_client.get(reverse("billing:order", args=[order.number])).content.decode()
    assert 'data-settled="false"' in page and "data-poll-url" in page
    response = progress(alice_client, order)
    states = [step.state for step in response.context["steps"]]
    assert states == ["done", "done", "current", "waiting", "waiting"]

    order.status, order.completed_at = Order.Status.COMPLETED, timezone.now()
    order.save()
    esim.state, esim.ready_at = ESim.State.READY, timezone.now()
    esim.save()
    response = progress(alice_client, order)
    assert [s.state for s in response.context["steps"]] == ["done"] * 4 + ["current"]
    assert "Install your eSIM" in response.content.decode()

    esim.state, esim.installed_at = ESim.State.INSTALLED, timezone.now()
    esim.save()
    response = progress(alice_client, order)
    assert 'data-settled="true"' in response.content.decode()


def test_slow_activation_says_so(alice_client, alice, settings):
    settings.ACTIVATION_SLOW_AFTER_MINUTES = 10
    order = OrderFactory(customer=alice, status=Order.Status.ACTIVATING,
                         paid_at=timezone.now(), esim=ESimFactory(owner=alice, iccid=None))
    assert "longer than usual" not in progress(alice_client, order).content.decode()
    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        assert "longer than usual" in progress(alice_client, order).content.decode()


def test_failed_activation_tells_the_customer_support_knows(alice_client, alice):
    order = OrderFactory(customer=alice, status=Order.Status.FAILED, paid_at=timezone.now(),
                         failed_at=timezone.now())
    content = progress(alice_client, order).content.decode()
    assert "could not activate" in content and order.number in content
    assert 'data-settled="true"' in content
