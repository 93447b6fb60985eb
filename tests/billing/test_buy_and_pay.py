import uuid
from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from billing import tasks
from billing.models import Order, Payment, SimulatedCharge
from esims.models import Bundle, ESim
from tests.factories import OrderFactory, PlanFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def plan():
    return PlanFactory(code="jp-week", name="Japan week")


def buy(client, plan, key=None, nickname="My phone"):
    return client.post(reverse("billing:buy", args=[plan.code]),
                       {"nickname": nickname, "idempotency_key": key or str(uuid.uuid4())})


def pay(client, order, outcome="success"):
    """Press Pay, choose the bank's answer on the simulated gateway, follow back."""
    response = client.post(reverse("billing:pay", args=[order.number]))
    gateway_url = response["Location"]
    response = client.post(gateway_url, {"outcome": outcome})
    return gateway_url, response


def test_buy_shows_the_summary_and_creates_an_order_with_frozen_price(alice_client, alice, plan):
    page = alice_client.get(reverse("billing:buy", args=[plan.code])).content.decode()
    assert "Japan week" in page and "US$8.00" in page
    response = buy(alice_client, plan)
    order = Order.objects.get(customer=alice)
    assert response["Location"] == reverse("billing:pay", args=[order.number])
    assert (order.amount_minor, order.currency, order.status) == (800, "USD", "pending_payment")
    plan.prices.filter(currency="USD").update(amount_minor=999)
    order.refresh_from_db()
    assert order.amount_minor == 800


def test_double_submitted_order_form_makes_one_order(alice_client, alice, plan):
    key = str(uuid.uuid4())
    first = buy(alice_client, plan, key)
    second = buy(alice_client, plan, key)
    assert first["Location"] == second["Location"]
    assert Order.objects.filter(customer=alice).count() == 1


def test_order_form_needs_a_nickname(alice_client, alice, plan):
    response = buy(alice_client, plan, nickname="   ")
    assert response.status_code == 200
    assert response.context["form"].errors["nickname"]
    assert not Order.objects.exists()


def test_buying_an_inactive_or_unknown_plan_is_404(alice_client, plan):
    plan.is_active = False
    plan.save()
    assert buy(alice_client, plan).status_code == 404
    assert alice_client.get(reverse("billing:buy", args=["nope"])).status_code == 404
    assert not Order.objects.exists()


def test_buying_needs_an_account(client, plan):
    response = client.get(reverse("billing:buy", args=[plan.code]))
    assert response.status_code == 302 and "login" in response["Location"]


def test_successful_payment_pays_the_order_and_creates_the_esim(alice_client, alice, plan):
    buy(alice_client, plan)
    order = Order.objects.get()
    _, response = pay(alice_client, order)
    response = alice_client.get(response["Location"])  # the portal's return page
    assert response["Location"] == reverse("billing:order", args=[order.number])
    order.refresh_from_db()
    assert order.paid_at is not None
    assert order.status in ("paid", "activating")  # the carrier is not reachable here
    esim = ESim.objects.get(owner=alice)
    assert esim.nickname == "My phone" and esim.state == ESim.State.PROVISIONING
    assert Bundle.objects.get(esim=esim).carrier_reference == order.number
    assert Payment.objects.get(order=order).status == "succeeded"


def test_double_clicked_pay_opens_one_payment(alice_client, plan):
    buy(alice_client, plan)
    order = Order.objects.get()
    first = alice_client.post(reverse("billing:pay", args=[order.number]))
    second = alice_client.post(reverse("billing:pay", args=[order.number]))
    assert first["Location"] == second["Location"]
    assert Payment.objects.filter(order=order).count() == 1
    assert SimulatedCharge.objects.count() == 1


def test_returning_many_times_fulfils_once(alice_client, alice, plan):
    buy(alice_client, plan)
    order = Order.objects.get()
    _, response = pay(alice_client, order)
    for _ in range(5):
        alice_client.get(response["Location"])
    assert ESim.objects.filter(owner=alice).count() == 1
    assert Bundle.objects.count() == 1
    assert Payment.objects.filter(status="succeeded").count() == 1


@pytest.mark.parametrize("code, message", [
    ("card_declined", "declined"), ("insufficient_funds", "insufficient funds"),
    ("expired_card", "expired")])
def test_declined_payment_explains_and_allows_a_retry(alice_client, plan, code, message):
    buy(alice_client, plan)
    order = Order.objects.get()
    _, response = pay(alice_client, order, outcome=code)
    response = alice_client.get(response["Location"], follow=True)
    assert message in response.content.decode()
    order.refresh_from_db()
    assert order.status == "pending_payment" and not ESim.objects.exists()
    assert Payment.objects.get().failure_code == code
    # A new attempt succeeds and is a separate payment row.
    _, response = pay(alice_client, order)
    alice_client.get(response["Location"])
    order.refresh_from_db()
    assert order.paid_at is not None
    assert list(order.payments.values_list("status", flat=True).order_by("pk")) == [
        "failed", "succeeded"]


def test_decline_is_explained_in_the_customers_language(alice_client, alice, plan):
    alice.language = "zh-hans"
    alice.save()
    buy(alice_client, plan)
    _, response = pay(alice_client, Order.objects.get(), outcome="insufficient_funds")
    content = alice_client.get(response["Location"], follow=True).content.decode()
    assert "insufficient" not in content and "余额不足" in content


def test_payment_that_needs_authentication(alice_client, plan):
    buy(alice_client, plan)
    order = Order.objects.get()
    gateway_url, response = pay(alice_client, order, outcome="authenticate")
    assert "authenticate" in response["Location"]
    # Coming back before authenticating sends the customer back to the bank.
    charge = SimulatedCharge.objects.get()
    response = alice_client.get(charge.return_url)
    assert response["Location"] == gateway_url
    response = alice_client.get(gateway_url, follow=True)
    assert "Confirm with your bank" in response.content.decode()
    response = alice_client.post(reverse("billing:simulated_authenticate",
                                         args=[charge.reference]), {"outcome": "success"})
    alice_client.get(response["Location"])
    order.refresh_from_db()
    assert order.paid_at is not None


def test_failed_authentication_is_a_clear_failure(alice_client, plan):
    buy(alice_client, plan)
    order = Order.objects.get()
    pay(alice_client, order, outcome="authenticate")
    charge = SimulatedCharge.objects.get()
    response = alice_client.post(reverse("billing:simulated_authenticate",
                                         args=[charge.reference]),
                                 {"outcome": "authentication_failed"})
    response = alice_client.get(response["Location"], follow=True)
    assert "authentication was not completed" in response.content.decode()
    order.refresh_from_db()
    assert order.status == "pending_payment"


def test_unknown_gateway_outcome_changes_nothing(alice_client, plan):
    buy(alice_client, plan)
    order = Order.objects.get()
    response = alice_client.post(reverse("billing:pay", args=[order.number]))
    response = alice_client.post(response["Location"], {"outcome": "free-money"})
    assert response.status_code == 200
    assert SimulatedCharge.objects.get().status == "pending"


def test_another_customers_order_is_404(client, bob, alice, plan):
    order = OrderFactory(customer=alice, plan=plan)
    payment = Payment.objects.create(order=order, gateway="simulated", amount_minor=800,
                                     currency="USD", gateway_reference="sim_x")
    client.force_login(bob)
    for name, args in [("billing:order", [order.number]), ("billing:pay", [order.number]),
                       ("billing:order_progress", [order.number]),
                       ("billing:payment_return", [order.number, payment.pk])]:
        assert client.get(reverse(name, args=args)).status_code == 404, name
    assert client.post(reverse("billing:pay", args=[order.number])).status_code == 404
    assert order.number not in client.get(reverse("billing:orders")).content.decode()


def test_paid_order_cannot_be_paid_again(alice_client, alice, plan):
    order = OrderFactory(customer=alice, plan=plan, status="completed")
    response = alice_client.post(reverse("billing:pay", args=[order.number]))
    assert response["Location"] == reverse("billing:order", args=[order.number])
    assert not Payment.objects.exists()


def test_paid_at_the_gateway_but_never_returned_is_not_lost(alice_client, alice, plan):
    """The customer pays and closes the tab before the portal hears back: the sweep asks
    the gateway, pays the order and starts activation, once."""
    buy(alice_client, plan)
    order = Order.objects.get()
    pay(alice_client, order)  # the gateway's page answered; nobody followed the redirect
    assert Order.objects.get().status == "pending_payment"
    assert tasks.payment_reconcile_sweep() == 0  # too early: the customer may still return
    with time_machine.travel(timezone.now() + timedelta(minutes=3)):
        assert tasks.payment_reconcile_sweep() == 1
        assert tasks.payment_reconcile_sweep() == 0
    order.refresh_from_db()
    assert order.paid_at is not None and ESim.objects.filter(owner=alice).count() == 1
    assert Payment.objects.get().status == "succeeded"


def test_abandoned_payment_stays_open_and_untouched(alice_client, plan):
    buy(alice_client, plan)
    alice_client.post(reverse("billing:pay", args=[Order.objects.get().number]))
    with time_machine.travel(timezone.now() + timedelta(minutes=3)):
        assert tasks.payment_reconcile_sweep() == 1
    assert Payment.objects.get().status == "created"
    assert Order.objects.get().status == "pending_payment"


def test_simulated_payments_are_refused_where_not_allowed(alice_client, plan, settings):
    buy(alice_client, plan)
    order = Order.objects.get()
    gateway_url = alice_client.post(reverse("billing:pay", args=[order.number]))["Location"]
    settings.ALLOW_SIMULATED_PAYMENTS = False
    response = alice_client.post(reverse("billing:pay", args=[order.number]), follow=True)
    assert "Payments are not set up" in response.content.decode()
    # The fake bank's page is gone too: an open charge cannot be "paid" there.
    assert alice_client.post(gateway_url, {"outcome": "success"}).status_code == 404
    assert Order.objects.get().status == "pending_payment"
