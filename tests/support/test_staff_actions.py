"""Support's actions on orders and eSIMs: each does what it says, once, and is recorded."""

import pytest
from django.urls import reverse

from billing.models import CreditNote, Order, SimulatedCharge
from esims.models import Bundle, ESim
from support.models import StaffAction
from tests.factories import ESimFactory, UserFactory
from tests.journeys import pay_and_activate

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent_client():
    """A support agent in their own browser (Alice has hers)."""
    from django.test import Client

    client = Client()
    client.agent = UserFactory(email="agent@example.com", is_staff=True, is_superuser=True)
    client.force_login(client.agent)
    return client


@pytest.fixture
def renewal(alice_client, installed_esim, django_capture_on_commit_callbacks):
    import uuid

    alice_client.post(reverse("billing:renew", args=[installed_esim.pk]),
                      {"plan": "jp-month", "idempotency_key": str(uuid.uuid4())})
    return pay_and_activate(alice_client, Order.objects.get(kind="renewal").number,
                            django_capture_on_commit_callbacks)


def test_refund_withdraws_the_plan_refunds_and_issues_a_credit_note(agent_client, renewal,
                                                                    carrier):
    url = reverse("admin:billing_order_refund", args=[renewal.pk])
    page = agent_client.get(url).content.decode()
    assert renewal.number in page and "US$18.00" in page
    assert agent_client.post(url, {"reason": ""}).status_code == 200  # a reason is required
    assert not CreditNote.objects.exists()

    agent_client.post(url, {"reason": "Customer bought the wrong plan"})
    renewal.refresh_from_db()
    assert renewal.status == Order.Status.REFUNDED and renewal.refunded_at
    note = CreditNote.objects.get()
    assert note.receipt == renewal.receipt and note.total_minor == 1800
    assert note.reason == "Customer bought the wrong plan"
    assert SimulatedCharge.objects.get(reference=renewal.payments.get().gateway_reference
                                       ).status == "refunded"
    bundle = Bundle.objects.get(order=renewal)
    assert bundle.state == Bundle.State.REVOKED
    at_carrier = carrier.app.test_client().get(
        f"/api/v1/esims/{renewal.esim.iccid}/bundles", headers={"X-API-Key": carrier.api_key}
    ).json["bundles"]
    assert {b["reference"]: b["state"] for b in at_carrier}[renewal.number] == "revoked"
    action = StaffAction.objects.get()
    assert (action.actor, action.kind, action.order, action.outcome) == (
        agent_client.agent, "refund", renewal, note.number)

    # Refunding again changes nothing and moves no money.
    agent_client.post(url, {"reason": "again"})
    assert CreditNote.objects.count() == 1 and StaffAction.objects.count() == 1


@pytest.fixture
def new_esim_order(alice, alice_client, carrier, plans, django_capture_on_commit_callbacks):
    """A new eSIM bought and paid, its profile released at the carrier, not installed."""
    from tests.factories import OrderFactory

    order = OrderFactory(customer=alice, plan=plans["week"])
    order = pay_and_activate(alice_client, order.number, django_capture_on_commit_callbacks)
    assert order.status == Order.Status.COMPLETED
    assert order.esim.state == ESim.State.READY
    return order


def profile_at_carrier(carrier, iccid):
    return carrier.app.test_client().get(f"/api/v1/esims/{iccid}",
                                         headers={"X-API-Key": carrier.api_key}).json


def test_refunding_a_new_esim_no_device_has_withdraws_its_profile(agent_client, carrier,
                                                                  new_esim_order):
    url = reverse("admin:billing_order_refund", args=[new_esim_order.pk])
    for _ in range(2):
        agent_client.post(url, {"reason": "Bought by mistake"})
    esim = ESim.objects.get(pk=new_esim_order.esim_id)
    assert esim.state == ESim.State.CANCELLED  # off the dashboard, nothing to install
    assert profile_at_carrier(carrier, esim.iccid)["profile_state"] == "Available"  # reusable
    assert Order.objects.get(pk=new_esim_order.pk).status == Order.Status.REFUNDED
    assert CreditNote.objects.count() == 1


def test_refunding_a_new_esim_already_on_a_device_leaves_the_profile(agent_client, carrier,
                                                                     new_esim_order):
    carrier.download(new_esim_order.esim.iccid)  # installed before the report reached us
    agent_client.post(reverse("admin:billing_order_refund", args=[new_esim_order.pk]),
                      {"reason": "Plan not wanted"})
    esim = ESim.objects.get(pk=new_esim_order.esim_id)
    assert esim.state != ESim.State.CANCELLED
    assert profile_at_carrier(carrier, esim.iccid)["profile_state"] == "Installed"
    assert Bundle.objects.get(order=new_esim_order).state == Bundle.State.REVOKED
    assert Order.objects.get(pk=new_esim_order.pk).status == Order.Status.REFUNDED


def test_an_unpaid_order_cannot_be_refunded(agent_client, alice):
    from tests.factories import OrderFactory

    order = OrderFactory(customer=alice)
    response = agent_client.post(reverse("admin:billing_order_refund", args=[order.pk]),
                                 {"reason": "test"}, follow=True)
    assert "never paid" in response.content.decode()
    assert Order.objects.get(pk=order.pk).status == "pending_payment"


def test_retry_a_failed_activation(agent_client, alice, carrier, settings,
                                   django_capture_on_commit_callbacks):
    from billing import tasks
    from tests.factories import paid_new_esim_order

    order = paid_new_esim_order(alice)
    settings.CARRIER_API_KEY = "wrong"
    tasks.order_activate.delay(order.pk)
    assert Order.objects.get(pk=order.pk).status == Order.Status.FAILED
    settings.CARRIER_API_KEY = carrier.api_key
    with django_capture_on_commit_callbacks(execute=True):
        agent_client.post(reverse("admin:billing_order_retry", args=[order.pk]))
    order.refresh_from_db()
    assert order.status == Order.Status.COMPLETED and order.failure_reason == ""
    assert StaffAction.objects.get().kind == "retry_activation"


@pytest.fixture
def support_client():
    """A support agent who may see and change eSIMs in admin, and nothing more."""
    from django.contrib.auth.models import Permission
    from django.test import Client

    client = Client()
    client.agent = UserFactory(email="support@example.com", is_staff=True)
    client.agent.user_permissions.add(*Permission.objects.filter(
        content_type__app_label="esims", codename__in=["view_esim", "change_esim"]))
    client.force_login(client.agent)
    return client


def switch_off_in_admin(client, esims, reason="Customer asked on the phone", **extra):
    return client.post(reverse("admin:esims_esim_changelist"), {
        "action": "switch_auto_renew_off", "_selected_action": [e.pk for e in esims],
        "apply": "1", "reason": reason}, **extra)


def test_switch_auto_renew_off_is_recorded(agent_client, alice):
    on, off = ESimFactory(owner=alice, auto_renew=True), ESimFactory(owner=alice)
    switch_off_in_admin(agent_client, [on, off])
    assert not ESim.objects.filter(auto_renew=True).exists()
    assert list(StaffAction.objects.values_list("kind", "esim")) == [("auto_renew_off", on.pk)]


def esim_fields(esim):
    esim = ESim.objects.get(pk=esim.pk)
    return {f.attname: getattr(esim, f.attname) for f in ESim._meta.concrete_fields
            if f.attname != "updated_at"}


def changes(before, after):
    return {name: value for name, value in after.items() if before[name] != value}


def test_staff_switch_off_leaves_the_esim_as_the_customers_own_does(
        support_client, alice_client, alice):
    from datetime import timedelta

    from tests.factories import auto_renewing_esim

    # Two eSIMs alike: a renewal and its notice scheduled, the last payment failed.
    by_customer, by_staff = (auto_renewing_esim(alice, ends_in=timedelta(days=3))
                             for _ in range(2))
    ESim.objects.update(renewal_attention=ESim.RenewalAttention.PAYMENT_FAILED)
    before = {esim.pk: esim_fields(esim) for esim in (by_customer, by_staff)}
    assert all(f["renew_at"] and f["renewal_notice_at"] and f["auto_renew"]
               for f in before.values())

    alice_client.post(reverse("renewals:off", args=[by_customer.pk]))
    page = support_client.post(reverse("admin:esims_esim_changelist"), {
        "action": "switch_auto_renew_off", "_selected_action": [by_staff.pk]})
    assert page.status_code == 200 and 'name="reason"' in page.content.decode()
    assert ESim.objects.get(pk=by_staff.pk).auto_renew  # nothing done before confirming
    response = switch_off_in_admin(support_client, [by_staff], follow=True)

    customers = changes(before[by_customer.pk], esim_fields(by_customer))
    assert customers == {"auto_renew": False, "renew_at": None, "renewal_notice_at": None,
                         "renewal_attention": ""}
    assert changes(before[by_staff.pk], esim_fields(by_staff)) == customers
    action = StaffAction.objects.get()
    assert (action.actor, action.kind, action.esim_id, action.note) == (
        support_client.agent, "auto_renew_off", by_staff.pk, "Customer asked on the phone")
    assert "Auto-renewal switched off on 1 eSIM." in response.content.decode()


def test_staff_switch_off_needs_a_reason(support_client, alice):
    esim = ESimFactory(owner=alice, auto_renew=True)
    response = switch_off_in_admin(support_client, [esim], reason="")
    assert response.status_code == 200 and 'name="reason"' in response.content.decode()
    assert ESim.objects.get(pk=esim.pk).auto_renew
    assert not StaffAction.objects.exists()


def test_staff_switch_off_is_undone_when_it_cannot_be_recorded(support_client, alice,
                                                               monkeypatch):
    from datetime import timedelta

    from support import services as support_services
    from tests.factories import auto_renewing_esim

    esim = auto_renewing_esim(alice, ends_in=timedelta(days=3))
    before = esim_fields(esim)

    def broken(**kwargs):
        raise RuntimeError("the staff action could not be written")

    monkeypatch.setattr(support_services, "staff_action_record", broken)
    with pytest.raises(RuntimeError):
        switch_off_in_admin(support_client, [esim])
    assert esim_fields(esim) == before  # auto-renewal still on, still scheduled
    assert not StaffAction.objects.exists()


def test_esim_page_shows_orders_payments_receipts_and_credit_notes(agent_client, renewal):
    page = agent_client.get(reverse("admin:esims_esim_change", args=[renewal.esim_id]))
    content = page.content.decode()
    assert renewal.number in content and renewal.receipt.number in content
    assert "simulated Succeeded" in content


def test_customers_cannot_refund(alice_client, renewal):
    response = alice_client.post(reverse("admin:billing_order_refund", args=[renewal.pk]),
                                 {"reason": "free money"})
    assert response.status_code == 302 and "login" in response["Location"]
    assert Order.objects.get(pk=renewal.pk).status == Order.Status.COMPLETED


def test_the_customer_sees_and_downloads_the_credit_note(agent_client, alice_client, renewal,
                                                          bob):
    agent_client.post(reverse("admin:billing_order_refund", args=[renewal.pk]),
                      {"reason": "Wrong plan"})
    note = CreditNote.objects.get()
    listing = alice_client.get(reverse("billing:receipts")).content.decode()
    assert note.number in listing and "Refunded on" in listing
    pdf = alice_client.get(reverse("billing:credit_note_pdf", args=[note.number])).content
    assert pdf.startswith(b"%PDF") and note.number.encode() in pdf
    assert renewal.receipt.number.encode() in pdf and b"Wrong plan" in pdf
    alice_client.force_login(bob)
    assert alice_client.get(reverse("billing:credit_note_pdf",
                                    args=[note.number])).status_code == 404
