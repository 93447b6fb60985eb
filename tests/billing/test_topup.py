"""Topping up an eSIM's running plan, against the carrier simulator."""

import uuid

import pytest
from django.core import mail
from django.urls import reverse

from billing.models import Order
from esims.models import Bundle
from tests.factories import BundleFactory, ESimFactory, PlanFactory
from tests.journeys import pay_and_activate

pytestmark = pytest.mark.django_db
GB = 1024 ** 3


@pytest.fixture
def topups():
    return {"1gb": PlanFactory(code="topup-1gb", name="Top-up 1 GB", is_topup=True,
                               data_mb=1024, prices={"USD": 300, "EUR": 280, "CNY": 2100}),
            "3gb": PlanFactory(code="topup-3gb", name="Top-up 3 GB", is_topup=True,
                               data_mb=3072, prices={"USD": 800, "EUR": 750, "CNY": 5800})}


def topup(client, esim, code, key=None):
    return client.post(reverse("billing:topup", args=[esim.pk]),
                       {"plan": code, "idempotency_key": key or str(uuid.uuid4())})


def test_topup_adds_data_and_keeps_the_end_date(alice_client, installed_esim, topups,
                                                django_capture_on_commit_callbacks):
    current = installed_esim.bundles.get(state=Bundle.State.ACTIVE)
    before_allowance, before_end = current.data_allowance_bytes, current.ends_at
    page = alice_client.get(reverse("billing:topup", args=[installed_esim.pk])).content.decode()
    assert "Top-up 1 GB" in page and "Its end date does not change" in page
    assert "Top up" in alice_client.get(reverse("esims:dashboard")).content.decode()

    response = topup(alice_client, installed_esim, "topup-3gb")
    order = Order.objects.get(kind=Order.Kind.TOPUP)
    assert response["Location"] == reverse("billing:pay", args=[order.number])
    order = pay_and_activate(alice_client, order.number, django_capture_on_commit_callbacks)
    assert order.status == Order.Status.COMPLETED
    current.refresh_from_db()
    assert current.data_allowance_bytes == before_allowance + 3 * GB
    assert current.ends_at == before_end
    assert Bundle.objects.filter(esim=installed_esim).count() == 1  # no new period
    steps = alice_client.get(reverse("billing:order_progress", args=[order.number]))
    assert [s.state for s in steps.context["steps"]] == ["done"] * 4
    # The payment email says what the top-up adds, and until when.
    email = next(m for m in mail.outbox if order.number in m.subject)
    assert "3 GB is added to the plan running on this eSIM, to use until it ends on" in (
        email.body)
    assert f"{before_end:%-d %b %Y}" in email.body  # alice reads UTC


def test_double_submitted_topup_makes_one_order(alice_client, installed_esim, topups):
    key = str(uuid.uuid4())
    assert (topup(alice_client, installed_esim, "topup-1gb", key)["Location"]
            == topup(alice_client, installed_esim, "topup-1gb", key)["Location"])
    assert Order.objects.filter(kind=Order.Kind.TOPUP).count() == 1


def test_no_topup_without_a_running_limited_plan(alice_client, alice, topups):
    expired = ESimFactory(owner=alice)
    unlimited = BundleFactory(esim__owner=alice, data_allowance_bytes=None).esim
    for esim in (expired, unlimited):
        response = topup(alice_client, esim, "topup-1gb")
        assert response["Location"] == reverse("esims:dashboard")
    assert not Order.objects.filter(kind=Order.Kind.TOPUP).exists()


def test_a_plan_is_not_a_topup_and_an_unknown_topup_is_404(alice_client, installed_esim,
                                                           topups, plans):
    assert topup(alice_client, installed_esim, "jp-week").status_code == 404
    assert topup(alice_client, installed_esim, "nope").status_code == 404
    assert not Order.objects.filter(kind=Order.Kind.TOPUP).exists()


def test_topping_up_another_customers_esim_is_404(client, bob, alice, topups):
    esim = BundleFactory(esim__owner=alice).esim
    client.force_login(bob)
    assert client.get(reverse("billing:topup", args=[esim.pk])).status_code == 404
    assert topup(client, esim, "topup-1gb").status_code == 404
    assert not Order.objects.filter(kind=Order.Kind.TOPUP).exists()


def test_topup_on_a_plan_that_ended_meanwhile_fails_for_support(
        alice_client, installed_esim, topups, carrier, django_capture_on_commit_callbacks):
    topup(alice_client, installed_esim, "topup-1gb")
    carrier.tick(advance_seconds=8 * 86400)  # the plan ends before the payment goes through
    order = pay_and_activate(alice_client, Order.objects.get(kind="topup").number,
                             django_capture_on_commit_callbacks)
    assert order.status == Order.Status.FAILED and "no_active_bundle" in order.failure_reason


def test_refunding_a_topup_takes_its_data_back(alice_client, installed_esim, topups,
                                               django_capture_on_commit_callbacks):
    from billing import services
    from tests.factories import UserFactory

    current = installed_esim.bundles.get(state=Bundle.State.ACTIVE)
    before = current.data_allowance_bytes
    topup(alice_client, installed_esim, "topup-1gb")
    order = pay_and_activate(alice_client, Order.objects.get(kind="topup").number,
                             django_capture_on_commit_callbacks)
    current.refresh_from_db()
    assert current.data_allowance_bytes == before + GB
    agent = UserFactory(email="agent@example.com", is_staff=True)
    order = services.order_refund(order_id=order.pk, actor=agent, reason="Not needed")
    current.refresh_from_db()
    assert order.status == Order.Status.REFUNDED and current.data_allowance_bytes == before
    assert current.state == Bundle.State.ACTIVE  # the plan itself keeps running
