"""A customer cancels their unused new eSIM and gets the money back themselves, once:
the profile is withdrawn at the SM-DP+ (ES2+ cancelOrder) before any money moves, the
gateway refunds the order once however often it is asked, and a credit note is issued
(billing.services.order_refund, billing.selectors.order_self_refund_refusal)."""

import threading
import uuid
from datetime import timedelta
from unittest import mock

import pytest
import time_machine
from django.db import connection, connections
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from billing import services
from billing.gateways import GatewayError
from billing.gateways.simulated import SimulatedGateway
from billing.models import CreditNote, Order, SimulatedCharge
from esims import esim_states
from esims import services as esim_services
from esims.models import Bundle, ESim
from support.models import StaffAction
from tests import services as machine
from tests.factories import UserFactory
from tests.journeys import pay_and_activate

pytestmark = pytest.mark.django_db


@pytest.fixture
def bought(alice, alice_client, carrier, plans, django_capture_on_commit_callbacks):
    """Alice's new eSIM, bought and paid through the pages, its profile released at the
    carrier and ready to install on no device yet."""
    return buy_new_esim(alice_client, plans["week"], django_capture_on_commit_callbacks)


def buy_new_esim(client, plan, django_capture_on_commit_callbacks) -> Order:
    response = client.post(reverse("billing:buy", args=[plan.code]),
                           {"nickname": "Travel phone", "idempotency_key": str(uuid.uuid4())})
    number = response["Location"].rstrip("/").split("/")[-2]
    order = pay_and_activate(client, number, django_capture_on_commit_callbacks)
    assert order.status == Order.Status.COMPLETED
    assert order.esim.state == ESim.State.READY
    return order


def profile_state(carrier, iccid) -> str:
    return carrier.app.test_client().get(
        f"/api/v1/esims/{iccid}", headers={"X-API-Key": carrier.api_key}).json["profile_state"]


def charge_of(order) -> SimulatedCharge:
    return SimulatedCharge.objects.get(reference=order.payments.get().gateway_reference)


def cancel_url(order) -> str:
    return reverse("billing:order_cancel", args=[order.number])


def order_page(client, order) -> str:
    return client.get(reverse("billing:order", args=[order.number])).content.decode()


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def unchanged(order, carrier):
    """Nothing moved: no money, no carrier state, no documents, no claim left behind."""
    order.refresh_from_db()
    assert order.status == Order.Status.COMPLETED and order.refunded_at is None
    assert order.refund_requested_at is None and order.refund_failed_at is None
    assert charge_of(order).status == SimulatedCharge.Status.SUCCEEDED
    assert not CreditNote.objects.exists() and not StaffAction.objects.exists()
    assert ESim.objects.get(pk=order.esim_id).state != ESim.State.CANCELLED
    assert Bundle.objects.get(order=order).state != Bundle.State.REVOKED


def spy_refunds():
    """Watch the simulated gateway's refunds: each call's idempotency key."""
    return mock.patch.object(SimulatedGateway, "charge_refund", autospec=True,
                             side_effect=SimulatedGateway.charge_refund)


def test_an_unused_esim_is_cancelled_and_refunded_once(alice, alice_client, bought, carrier):
    esim = bought.esim
    assert profile_state(carrier, esim.iccid) == "Released"
    page = order_page(alice_client, bought)
    assert cancel_url(bought) in page and "Cancel and refund" in page
    install = alice_client.get(reverse("esims:install", args=[esim.pk])).content.decode()
    assert cancel_url(bought) in install

    # The confirmation page says what it means, and looking at it changes nothing.
    confirm = alice_client.get(cancel_url(bought)).content.decode()
    assert "back on the payment method you paid with" in confirm
    assert "cannot be restored" in confirm and 'name="csrfmiddlewaretoken"' in confirm
    unchanged(bought, carrier)

    with spy_refunds() as refund:
        response = alice_client.post(cancel_url(bought), follow=True)
        assert "on its way back to the payment method you paid with" in " ".join(
            messages_of(response))
        # A second click after it is done moves nothing more.
        alice_client.post(cancel_url(bought))
    assert refund.call_count == 1
    assert refund.call_args.kwargs["idempotency_key"] == services.order_refund_key(bought)

    bought.refresh_from_db()
    assert bought.status == Order.Status.REFUNDED and bought.refunded_at is not None
    assert bought.refund_failed_at is None and bought.refund_failure == ""
    assert charge_of(bought).status == SimulatedCharge.Status.REFUNDED
    note = CreditNote.objects.get()
    assert note.receipt == bought.receipt and note.total_minor == bought.amount_minor
    assert note.reason == "Cancelled by the customer"
    action = StaffAction.objects.get()
    assert (action.actor, action.kind, action.order, action.esim, action.outcome) == (
        alice, StaffAction.Kind.SELF_REFUND, bought, esim, note.number)
    # The profile is back in the carrier's pool, its code dead; its plan revoked.
    assert ESim.objects.get(pk=esim.pk).state == ESim.State.CANCELLED
    assert profile_state(carrier, esim.iccid) == "Available"
    assert Bundle.objects.get(order=bought).state == Bundle.State.REVOKED
    # The order page shows the refund and its credit note, and no more cancel offer.
    page = order_page(alice_client, bought)
    assert reverse("billing:credit_note_pdf", args=[note.number]) in page
    assert "Cancel and refund" not in page and "Install your eSIM" not in page
    # Its steps end with the refund, nothing left "in progress".
    assert "Refunded to the payment method you paid with" in page
    assert "in progress" not in page and 'data-settled="true"' in page
    assert alice_client.get(cancel_url(bought)).status_code == 302


def test_refused_once_a_device_has_downloaded_it_and_nothing_changes(alice_client, bought,
                                                                    carrier):
    # A device fetched the profile; no install report has reached the portal: only the
    # carrier's answer to cancelOrder tells.
    carrier.download(bought.esim.iccid)
    state_at_carrier = profile_state(carrier, bought.esim.iccid)
    assert state_at_carrier in ("Downloaded", "Installed")
    assert ESim.objects.get(pk=bought.esim_id).state == ESim.State.READY
    with spy_refunds() as refund:
        response = alice_client.post(cancel_url(bought), follow=True)
    assert refund.call_count == 0
    assert any("downloaded to a device" in m for m in messages_of(response))
    unchanged(bought, carrier)
    assert profile_state(carrier, bought.esim.iccid) == state_at_carrier


def test_refused_once_installed_without_asking_the_carrier(alice_client, bought, carrier):
    esim_services.esim_record_download_progress(iccid=bought.esim.iccid, point=4, eid="",
                                                at=timezone.now())
    assert "Cancel and refund" not in order_page(alice_client, bought)
    install = alice_client.get(reverse("esims:install", args=[bought.esim.pk]))
    assert cancel_url(bought) not in install.content.decode()
    assert "installed on a device" in alice_client.get(cancel_url(bought)).content.decode()
    with mock.patch("carrier.client.es2_cancel_order") as cancel_order:
        response = alice_client.post(cancel_url(bought), follow=True)
    cancel_order.assert_not_called()
    assert any("installed on a device" in m for m in messages_of(response))
    unchanged(bought, carrier)


def test_refused_after_the_days_allowed(alice_client, bought, carrier, settings):
    settings.SELF_REFUND_DAYS = 2
    with time_machine.travel(bought.paid_at + timedelta(days=2, minutes=-1), tick=False):
        assert "Cancel and refund" in order_page(alice_client, bought)
    with time_machine.travel(bought.paid_at + timedelta(days=2, minutes=1), tick=False):
        assert "Cancel and refund" not in order_page(alice_client, bought)
        assert "within 2 days" in alice_client.get(cancel_url(bought)).content.decode()
        with mock.patch("carrier.client.es2_cancel_order") as cancel_order:
            response = alice_client.post(cancel_url(bought), follow=True)
    cancel_order.assert_not_called()
    assert any("within 2 days" in m for m in messages_of(response))
    unchanged(bought, carrier)
    assert profile_state(carrier, bought.esim.iccid) == "Released"


def test_another_customers_order_is_404(bought, bob, carrier):
    client = Client()
    client.force_login(bob)
    assert client.get(cancel_url(bought)).status_code == 404
    assert client.post(cancel_url(bought)).status_code == 404
    unchanged(bought, carrier)


def test_a_stranger_is_sent_to_sign_in(bought, carrier):
    response = Client().post(cancel_url(bought))
    assert response.status_code == 302 and "login" in response["Location"]
    unchanged(bought, carrier)


def test_only_a_post_with_the_csrf_token_cancels(alice, alice_client, bought, carrier):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post(cancel_url(bought)).status_code == 403
    assert alice_client.put(cancel_url(bought)).status_code == 405
    assert alice_client.delete(cancel_url(bought)).status_code == 405
    unchanged(bought, carrier)


def test_renewals_and_top_ups_are_not_offered(alice_client, bought, carrier, plans,
                                              django_capture_on_commit_callbacks):
    carrier.download(bought.esim.iccid)
    esim_services.esim_sync_from_carrier(esim_id=bought.esim_id)
    response = alice_client.post(reverse("billing:renew", args=[bought.esim_id]),
                                 {"plan": "jp-month", "idempotency_key": str(uuid.uuid4())})
    number = response["Location"].rstrip("/").split("/")[-2]
    renewal = pay_and_activate(alice_client, number, django_capture_on_commit_callbacks)
    assert renewal.kind == Order.Kind.RENEWAL and renewal.status == Order.Status.COMPLETED

    assert "Cancel and refund" not in order_page(alice_client, renewal)
    assert "contact support" in alice_client.get(cancel_url(renewal)).content.decode()
    response = alice_client.post(cancel_url(renewal), follow=True)
    assert any("contact support" in m for m in messages_of(response))
    renewal.refresh_from_db()
    assert renewal.status == Order.Status.COMPLETED and renewal.refund_requested_at is None
    assert Bundle.objects.get(order=renewal).state != Bundle.State.REVOKED
    assert not CreditNote.objects.exists()


def test_a_new_esim_with_a_renewal_bought_on_it_is_for_support(
        alice_client, bought, carrier, django_capture_on_commit_callbacks):
    """Cancelling the profile would take the renewal's plan with it, unrefunded."""
    response = alice_client.post(reverse("billing:renew", args=[bought.esim_id]),
                                 {"plan": "jp-month", "idempotency_key": str(uuid.uuid4())})
    number = response["Location"].rstrip("/").split("/")[-2]
    pay_and_activate(alice_client, number, django_capture_on_commit_callbacks)
    assert "Other plans were bought" in alice_client.get(cancel_url(bought)).content.decode()
    alice_client.post(cancel_url(bought))
    unchanged(bought, carrier)


def test_a_gateway_refusal_is_recorded_for_support_and_the_customer_can_finish(
        alice_client, bought, carrier):
    with mock.patch.object(SimulatedGateway, "charge_refund",
                           side_effect=GatewayError("the charge is disputed")):
        response = alice_client.post(cancel_url(bought), follow=True)
    assert any("support team has been told" in m for m in messages_of(response))
    bought.refresh_from_db()
    # The profile is withdrawn (that came first); the money is not back: support's queue.
    assert ESim.objects.get(pk=bought.esim_id).state == ESim.State.CANCELLED
    assert bought.status == Order.Status.COMPLETED
    assert bought.refund_failed_at is not None and "disputed" in bought.refund_failure
    assert bought.refund_requested_at is None  # released: the next try may go at once
    assert charge_of(bought).status == SimulatedCharge.Status.SUCCEEDED

    # Trying again finishes it, even though the eSIM is no longer "ready".
    assert "Cancel and refund" in order_page(alice_client, bought)
    alice_client.post(cancel_url(bought))
    bought.refresh_from_db()
    assert bought.status == Order.Status.REFUNDED
    assert bought.refund_failed_at is None and bought.refund_failure == ""
    assert charge_of(bought).status == SimulatedCharge.Status.REFUNDED
    assert CreditNote.objects.count() == 1


def test_a_refund_cut_short_after_the_gateway_is_finished_once(alice, bought, carrier):
    """The worker dies between the gateway's refund and the commit: the claim holds off
    a second refund until it expires, and the one that takes it over gets the same
    refund from the gateway (the same key) and issues the one credit note."""
    crash = mock.patch("billing.services.credit_note_issue",
                       side_effect=RuntimeError("worker lost"))
    with spy_refunds() as refund, crash, pytest.raises(RuntimeError):
        services.order_self_refund(order_id=bought.pk, customer=alice)
    assert refund.call_count == 1
    bought.refresh_from_db()
    assert bought.status == Order.Status.COMPLETED and bought.refund_requested_at is not None
    assert charge_of(bought).status == SimulatedCharge.Status.REFUNDED  # the money moved

    with spy_refunds() as again:
        with pytest.raises(services.RefundInProgress):
            services.order_self_refund(order_id=bought.pk, customer=alice)
        assert again.call_count == 0  # a second click while it runs starts nothing
        later = timezone.now() + services.REFUND_CLAIM_TIMEOUT + timedelta(seconds=1)
        with time_machine.travel(later, tick=False):
            order = services.order_self_refund(order_id=bought.pk, customer=alice)
    assert order.status == Order.Status.REFUNDED
    keys = {call.kwargs["idempotency_key"] for call in refund.call_args_list
            + again.call_args_list}
    assert keys == {services.order_refund_key(bought)}
    note = CreditNote.objects.get()
    assert note.gateway_refund_reference == f"re_{charge_of(bought).reference}"
    assert StaffAction.objects.filter(kind=StaffAction.Kind.SELF_REFUND).count() == 1


def test_support_withdraws_the_profile_before_revoking_the_plan(alice, bought, carrier):
    """The carrier's report of the revoked plan can expire a new eSIM no device has:
    were the plan revoked first, the profile would never be withdrawn."""
    agent = UserFactory(email="agent@example.com", is_staff=True)
    real_revoke = esim_services.bundle_revoke

    def revoke_and_report(*, bundle):
        real_revoke(bundle=bundle)
        esim_states.esim_expire(esim_id=bundle.esim_id)  # what the "revoked" report does

    with mock.patch.object(esim_services, "bundle_revoke", side_effect=revoke_and_report):
        services.order_refund(order_id=bought.pk, actor=agent, reason="Bought by mistake")
    assert profile_state(carrier, bought.esim.iccid) == "Available"
    assert ESim.objects.get(pk=bought.esim_id).state == ESim.State.CANCELLED
    assert StaffAction.objects.get().kind == StaffAction.Kind.REFUND


def test_a_self_refund_is_refused_in_the_service_too(alice, bob, bought, carrier):
    """The service checks the one rule itself: a view is not the only way in."""
    with pytest.raises(services.OrderError):
        services.order_self_refund(order_id=bought.pk, customer=bob)
    with time_machine.travel(bought.paid_at + timedelta(days=30), tick=False), \
            pytest.raises(services.OrderError, match="within"):
        services.order_self_refund(order_id=bought.pk, customer=alice)
    unchanged(bought, carrier)


# --- Two clicks at the same instant (PostgreSQL, real threads) ---------------------------

@pytest.mark.django_db(transaction=True)
def test_two_posts_at_once_refund_once(alice, carrier, plans,
                                       django_capture_on_commit_callbacks):
    machine.need(connection.vendor == "postgresql", "PostgreSQL (row locks under real races)")
    first, second = Client(), Client()
    for browser in (first, second):
        browser.force_login(alice)
    order = buy_new_esim(first, plans["week"], django_capture_on_commit_callbacks)
    barrier = threading.Barrier(2)
    said: list[str] = []
    real_refund = SimulatedGateway.charge_refund

    def slow_refund(self, **kwargs):
        threading.Event().wait(0.5)  # the other click arrives while this one runs
        return real_refund(self, **kwargs)

    def click(browser):
        try:
            barrier.wait()
            response = browser.post(cancel_url(order), follow=True)
            said.extend(messages_of(response))
        finally:
            connections.close_all()

    with mock.patch.object(SimulatedGateway, "charge_refund", autospec=True,
                           side_effect=slow_refund) as refund:
        threads = [threading.Thread(target=click, args=(b,)) for b in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert refund.call_count == 1
    assert len(said) == 2 and any("already being refunded" in m for m in said)
    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED
    assert CreditNote.objects.filter(receipt__order=order).count() == 1
    assert StaffAction.objects.filter(order=order).count() == 1
    assert charge_of(order).status == SimulatedCharge.Status.REFUNDED
