"""Auto-renewal, end to end on the simulated gateway and the carrier simulator, with the
clock moved by time-machine for the renewal and retry schedules."""

from contextlib import contextmanager
from datetime import timedelta
from unittest import mock

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.urls import reverse

from billing import services as billing_services
from billing.gateways import GatewayRetryableError
from billing.gateways.simulated import SimulatedGateway
from billing.models import Order, Payment, PaymentMethod, Receipt, SimulatedCard, SimulatedCharge
from esims.models import Bundle, ESim
from esims.services import esim_sync_from_carrier
from notifications.models import Notification
from renewals import services, tasks

from .conftest import save_card, switch_on

pytestmark = pytest.mark.django_db


def active_bundle(esim):
    return esim.bundles.get(state=Bundle.State.ACTIVE)


def sweep(django_capture_on_commit_callbacks):
    """One beat of the renewal sweep, with everything it starts run to the end."""
    with django_capture_on_commit_callbacks(execute=True):
        return tasks.renewal_sweep()


@contextmanager
def first_attempt(client, esim, behaviour, capture):
    """Switch auto-renewal on with a card that answers as `behaviour` says, move the clock
    to the charge and run the sweep; yields the clock (time stands still) and the order."""
    card = save_card(client, behaviour=behaviour)
    switch_on(client, esim, "jp-week", card)
    due = ESim.objects.get(pk=esim.pk).renew_at
    with time_machine.travel(due + timedelta(minutes=1), tick=False) as clock:
        sweep(capture)
        yield clock, Order.objects.get(kind=Order.Kind.RENEWAL)


RENEWAL_KINDS = ["renewal_upcoming", "payment_failed", "payment_action", "auto_renew_off"]


def kinds(**filters):
    """The auto-renewal messages sent so far (purchase and install messages left out)."""
    return sorted(Notification.objects.filter(kind__in=RENEWAL_KINDS, **filters)
                  .values_list("kind", flat=True))


# --- Switching on and off -------------------------------------------------------------

def test_saving_a_card_and_switching_on_schedules_the_charge_and_the_notice(
        alice_client, installed_esim):
    card = save_card(alice_client)
    assert (card.gateway, card.last4, card.brand) == ("simulated", "4242", "visa")
    page = alice_client.get(reverse("renewals:settings", args=[installed_esim.pk]))
    assert "Off" in page.content.decode() and "Visa •••• 4242" in page.content.decode()

    response = switch_on(alice_client, installed_esim, "jp-month", card)
    assert response.status_code == 302
    esim = ESim.objects.get(pk=installed_esim.pk)
    ends = active_bundle(esim).ends_at
    assert esim.auto_renew and esim.renewal_plan.code == "jp-month"
    assert esim.renewal_payment_method == card
    assert esim.renew_at == ends - timedelta(hours=24)
    assert esim.renewal_notice_at == esim.renew_at - timedelta(days=3)

    content = alice_client.get(response["Location"]).content.decode()
    assert "Auto-renewal is on." in content
    # When (alice is on UTC), how much, for what (docs/renewals.md).
    assert f"Next charge: <strong>{esim.renew_at:%-d %b %Y, %H:%M}</strong>" in content
    assert "US$18.00 for Japan month, from" in content
    dashboard = alice_client.get(reverse("esims:dashboard")).content.decode()
    assert "Auto-renewal on" in dashboard


def test_switching_off_takes_effect_at_once_and_suggests_renewing_by_hand(
        alice_client, auto_renewing, django_capture_on_commit_callbacks):
    response = alice_client.post(reverse("renewals:off", args=[auto_renewing.pk]))
    page = alice_client.get(response["Location"]).content.decode()
    assert "Auto-renewal is off. Nothing more will be charged" in page
    assert reverse("billing:renew", args=[auto_renewing.pk]) in page  # renew once by hand
    esim = ESim.objects.get(pk=auto_renewing.pk)
    assert not esim.auto_renew and esim.renew_at is None and esim.renewal_notice_at is None
    with time_machine.travel(active_bundle(esim).ends_at - timedelta(hours=1)):
        assert sweep(django_capture_on_commit_callbacks) == 0
    assert not Order.objects.filter(kind=Order.Kind.RENEWAL).exists()
    assert not SimulatedCharge.objects.filter(idempotency_key__isnull=False).exists()


def test_bad_choices_get_a_message_and_change_nothing(alice_client, installed_esim, bob):
    card = save_card(alice_client)
    url = reverse("renewals:settings", args=[installed_esim.pk])
    response = alice_client.post(url, {"plan": "no-such-plan", "card": card.pk})
    assert response.status_code == 200 and "Choose a plan from the list." in (
        response.content.decode())
    response = alice_client.post(url, {"plan": "jp-week"})
    assert "Add a card first." in response.content.decode()
    esim = ESim.objects.get(pk=installed_esim.pk)
    assert not esim.auto_renew and esim.renew_at is None

    # Bob may not use Alice's card, see her eSIM's page, switch it off or finish her card.
    client = Client()
    client.force_login(bob)
    bob_card = save_card(client)
    response = alice_client.post(url, {"plan": "jp-week", "card": bob_card.pk})
    assert "Choose one of your saved cards." in response.content.decode()
    assert client.get(url).status_code == 404
    assert client.post(reverse("renewals:off", args=[esim.pk])).status_code == 404
    assert client.get(reverse("billing:card_setup_return",
                              args=[card.setup_reference])).status_code == 404
    assert client.get(reverse("billing:simulated_card",
                              args=[card.setup_reference])).status_code == 404
    assert not ESim.objects.get(pk=esim.pk).auto_renew


def test_a_card_add_never_redirects_off_site(alice_client, installed_esim):
    response = alice_client.post(reverse("billing:card_add"),
                                 {"next": "https://evil.example/phish"})
    response = alice_client.post(response["Location"], {"behaviour": "success"})
    response = alice_client.get(response["Location"])
    assert response["Location"] == reverse("esims:dashboard")


# --- The notice and the charge ---------------------------------------------------------

def test_the_customer_is_told_three_days_ahead_once(auto_renewing,
                                                    django_capture_on_commit_callbacks):
    with time_machine.travel(auto_renewing.renewal_notice_at - timedelta(minutes=1)):
        assert services.renewal_notices_send_due() == 0  # not yet
    with time_machine.travel(auto_renewing.renewal_notice_at + timedelta(minutes=1)), \
            django_capture_on_commit_callbacks(execute=True):
        assert services.renewal_notices_send_due() == 1
        assert services.renewal_notices_send_due() == 0
    assert kinds() == ["renewal_upcoming"]
    message = next(m for m in mail.outbox if "coming up" in m.subject)
    assert "we will charge US$" in message.body and "Japan week" in message.body
    assert f"{auto_renewing.renew_at:%-d %b %Y, %H:%M}" in message.body
    assert "Visa •••• 4242" in message.body


def test_a_due_renewal_is_charged_applied_and_receipted_once(
        auto_renewing, carrier, django_capture_on_commit_callbacks):
    current = active_bundle(auto_renewing)
    with time_machine.travel(auto_renewing.renew_at + timedelta(minutes=1)):
        assert sweep(django_capture_on_commit_callbacks) == 1
        assert sweep(django_capture_on_commit_callbacks) == 0  # nothing due any more
        assert services.renewal_run(esim_id=auto_renewing.pk) == "renewed"  # a repeat
    order = Order.objects.get(kind=Order.Kind.RENEWAL)
    assert order.status == Order.Status.COMPLETED  # paid and applied at the carrier
    payment = order.payments.get()
    assert payment.off_session and payment.status == Payment.Status.SUCCEEDED
    assert SimulatedCharge.objects.filter(idempotency_key__isnull=False).count() == 1
    assert Receipt.objects.filter(order=order).count() == 1
    queued = Bundle.objects.get(order=order)
    assert queued.state == Bundle.State.QUEUED and queued.starts_at is None
    assert active_bundle(auto_renewing) == current  # nothing paid for is shortened
    esim = ESim.objects.get(pk=auto_renewing.pk)
    assert esim.renew_at is None  # renewed: nothing due until the new plan runs
    assert Notification.objects.filter(order=order, kind="order_paid").exists()
    receipt_email = next(m for m in mail.outbox if order.number in m.subject)
    new_start, new_end = current.ends_at, current.ends_at + timedelta(days=7)
    assert (f"New period: from {new_start:%-d %b %Y, %H:%M} to {new_end:%-d %b %Y, %H:%M} "
            "(UTC)") in receipt_email.body

    # The new plan starts when the current one ends; the next cycle is scheduled from it.
    with time_machine.travel(current.ends_at + timedelta(minutes=1)):
        carrier.tick()
        esim_sync_from_carrier(esim_id=esim.pk)
    queued.refresh_from_db()
    assert queued.state == Bundle.State.ACTIVE and queued.starts_at == current.ends_at
    esim.refresh_from_db()
    assert esim.renew_at == queued.ends_at - timedelta(hours=24)


def test_using_90_percent_of_the_data_charges_the_renewal_early(
        auto_renewing, carrier, django_capture_on_commit_callbacks):
    bundle = active_bundle(auto_renewing)
    carrier.consume(auto_renewing.iccid, int(bundle.data_allowance_bytes * 0.91))
    esim_sync_from_carrier(esim_id=auto_renewing.pk)
    esim = ESim.objects.get(pk=auto_renewing.pk)
    assert esim.renew_at is not None and esim.renew_at < bundle.ends_at - timedelta(days=5)
    assert sweep(django_capture_on_commit_callbacks) == 1
    assert Order.objects.get(kind=Order.Kind.RENEWAL).status == Order.Status.COMPLETED


# --- Failures and retries --------------------------------------------------------------

def test_a_declined_card_is_retried_after_one_and_three_days_then_switched_off(
        alice_client, installed_esim, django_capture_on_commit_callbacks):
    with first_attempt(alice_client, installed_esim, "insufficient_funds",
                       django_capture_on_commit_callbacks) as (clock, order):
        assert order.status == Order.Status.PENDING_PAYMENT
        payment = order.payments.get()
        assert (payment.status, payment.failure_code) == ("failed", "insufficient_funds")
        esim = ESim.objects.get(pk=installed_esim.pk)
        assert esim.renew_at == order.created_at + timedelta(days=1)
        # A repeated run before the retry is due charges nothing and tells nobody again.
        assert services.renewal_run(esim_id=esim.pk) == "retry_scheduled"
        assert order.payments.count() == 1 and kinds() == ["payment_failed"]

        dashboard = alice_client.get(reverse("esims:dashboard")).content.decode()
        assert "The last renewal payment failed." in dashboard  # seen where they look
        page = alice_client.get(reverse("renewals:settings", args=[esim.pk])).content.decode()
        assert "The last renewal payment failed." in page
        assert "The card has insufficient funds." in page
        assert reverse("billing:pay", args=[order.number]) in page  # pay now, by hand
        email = next(m for m in mail.outbox if "failed" in m.subject)
        assert "insufficient funds" in email.body and "try again" in email.body

        clock.move_to(order.created_at + timedelta(days=1, minutes=1))
        sweep(django_capture_on_commit_callbacks)
        assert order.payments.count() == 2
        assert ESim.objects.get(pk=esim.pk).renew_at == order.created_at + timedelta(days=3)

        clock.move_to(order.created_at + timedelta(days=3, minutes=1))
        sweep(django_capture_on_commit_callbacks)
        assert order.payments.filter(status=Payment.Status.FAILED).count() == 3
        esim = ESim.objects.get(pk=esim.pk)
        assert not esim.auto_renew and esim.renew_at is None
        assert kinds() == ["auto_renew_off", "payment_failed", "payment_failed",
                           "payment_failed"]
        # Switched off by the failures, not by the customer: the card still says why.
        assert esim.renewal_attention == ESim.RenewalAttention.PAYMENT_FAILED
        assert "The last renewal payment failed." in alice_client.get(
            reverse("esims:dashboard")).content.decode()
        assert any("is off" in m.subject for m in mail.outbox)

        clock.move_to(order.created_at + timedelta(days=9))
        assert sweep(django_capture_on_commit_callbacks) == 0
    assert SimulatedCharge.objects.filter(idempotency_key__isnull=False).count() == 3


def test_changing_the_card_after_a_failure_lets_the_retry_succeed(
        alice_client, installed_esim, django_capture_on_commit_callbacks):
    with first_attempt(alice_client, installed_esim, "expired_card",
                       django_capture_on_commit_callbacks) as (clock, order):
        assert order.payments.get().failure_code == "expired_card"
        good = save_card(alice_client, next_url=reverse("renewals:settings",
                                                        args=[installed_esim.pk]))
        switch_on(alice_client, installed_esim, "jp-week", good)
        clock.move_to(order.created_at + timedelta(days=1, minutes=1))
        sweep(django_capture_on_commit_callbacks)
    order.refresh_from_db()
    assert order.status == Order.Status.COMPLETED
    assert order.payments.get(status="succeeded").payment_method == good
    dashboard = alice_client.get(reverse("esims:dashboard")).content.decode()
    assert "renewal payment failed" not in dashboard


def test_a_bank_asking_for_3ds_gets_a_link_and_is_never_charged_blindly_again(
        alice_client, installed_esim, django_capture_on_commit_callbacks):
    with first_attempt(alice_client, installed_esim, "authenticate",
                       django_capture_on_commit_callbacks) as (clock, order):
        assert order.payments.get().status == Payment.Status.REQUIRES_ACTION
        assert kinds() == ["payment_action"]
        assert "Your bank asks you to confirm the renewal payment." in alice_client.get(
            reverse("esims:dashboard")).content.decode()
        email = next(m for m in mail.outbox if "Confirm" in m.subject)
        assert reverse("billing:pay", args=[order.number]) in email.body

        clock.move_to(order.created_at + timedelta(days=1, minutes=1))
        sweep(django_capture_on_commit_callbacks)  # looked at again, not charged again
        assert order.payments.count() == 1
        assert SimulatedCharge.objects.filter(idempotency_key__isnull=False).count() == 1

        # The customer follows the link and passes the bank's check.
        page = alice_client.get(reverse("renewals:settings", args=[installed_esim.pk]))
        assert "Your bank asks you to confirm the renewal payment." in page.content.decode()
        response = alice_client.post(reverse("billing:pay", args=[order.number]))
        response = alice_client.get(response["Location"])  # the gateway: to its 3DS page
        response = alice_client.post(response["Location"], {"outcome": "success"})
        with django_capture_on_commit_callbacks(execute=True):
            alice_client.get(response["Location"])
    order.refresh_from_db()
    assert order.status == Order.Status.COMPLETED and order.payments.count() == 1
    # The week had ended meanwhile, so the renewal started at once; the next cycle follows it.
    renewal = Bundle.objects.get(order=order)
    assert renewal.state == Bundle.State.ACTIVE
    assert ESim.objects.get(pk=installed_esim.pk).renew_at == renewal.ends_at - timedelta(hours=24)


def test_unanswered_3ds_switches_auto_renewal_off_after_the_last_retry(
        alice_client, installed_esim, django_capture_on_commit_callbacks):
    with first_attempt(alice_client, installed_esim, "authenticate",
                       django_capture_on_commit_callbacks) as (clock, order):
        clock.move_to(order.created_at + timedelta(days=3, minutes=1))
        sweep(django_capture_on_commit_callbacks)
    assert not ESim.objects.get(pk=installed_esim.pk).auto_renew
    assert order.payments.count() == 1
    assert kinds() == ["auto_renew_off", "payment_action"]


def test_a_gateway_it_cannot_reach_is_retried_with_the_same_payment(
        auto_renewing, django_capture_on_commit_callbacks):
    real = SimulatedGateway.charge_off_session
    calls = []

    def flaky(self, **kwargs):
        calls.append(kwargs["payment"].idempotency_key)
        if len(calls) == 1:
            raise GatewayRetryableError("rate limited")
        return real(self, **kwargs)

    with time_machine.travel(auto_renewing.renew_at + timedelta(minutes=1)), \
            mock.patch.object(SimulatedGateway, "charge_off_session", flaky):
        with pytest.raises(GatewayRetryableError):
            services.renewal_run(esim_id=auto_renewing.pk)
        with django_capture_on_commit_callbacks(execute=True):
            assert services.renewal_run(esim_id=auto_renewing.pk) == "paid"
    assert calls[0] == calls[1]  # the same idempotency key both times
    order = Order.objects.get(kind=Order.Kind.RENEWAL)
    assert order.payments.count() == 1 and order.status == Order.Status.COMPLETED


# --- Exactly once ---------------------------------------------------------------------

def test_a_run_killed_after_charging_and_before_recording_finishes_once(
        auto_renewing, django_capture_on_commit_callbacks):
    """The charge went through at the gateway, then the worker died before the portal
    wrote it down. The task is delivered again: the same payment row, the same key,
    the same charge; one renewal."""
    with time_machine.travel(auto_renewing.renew_at + timedelta(minutes=1), tick=False) as clock:
        with mock.patch.object(billing_services, "_payment_record",
                               side_effect=SystemExit("worker killed")), \
                pytest.raises(SystemExit):
            services.renewal_run(esim_id=auto_renewing.pk)
        payment = Payment.objects.get()
        assert payment.gateway_reference == "" and payment.status == Payment.Status.CREATED
        assert SimulatedCharge.objects.filter(idempotency_key__isnull=False).count() == 1

        # Delivered again at once: the dead run's claim still stands, so nothing is called.
        assert services.renewal_run(esim_id=auto_renewing.pk) == "busy"
        clock.shift(billing_services.CHARGE_CLAIM_TIMEOUT + timedelta(seconds=1))
        with django_capture_on_commit_callbacks(execute=True):
            assert services.renewal_run(esim_id=auto_renewing.pk) == "paid"
    charge = SimulatedCharge.objects.get(idempotency_key__isnull=False)
    payment.refresh_from_db()
    assert payment.gateway_reference == charge.reference
    order = Order.objects.get(kind=Order.Kind.RENEWAL)
    assert order.status == Order.Status.COMPLETED and order.payments.count() == 1
    assert Receipt.objects.filter(order=order).count() == 1
    assert Bundle.objects.filter(order=order).count() == 1


def test_switching_on_again_after_it_stopped_starts_afresh(
        alice_client, installed_esim, django_capture_on_commit_callbacks):
    with first_attempt(alice_client, installed_esim, "card_declined",
                       django_capture_on_commit_callbacks) as (clock, first):
        clock.move_to(first.created_at + timedelta(days=3, minutes=1))
        sweep(django_capture_on_commit_callbacks)
        sweep(django_capture_on_commit_callbacks)
        assert not ESim.objects.get(pk=installed_esim.pk).auto_renew
        good = save_card(alice_client)
        switch_on(alice_client, installed_esim, "jp-week", good)
        sweep(django_capture_on_commit_callbacks)
    renewed = Order.objects.filter(kind=Order.Kind.RENEWAL, status=Order.Status.COMPLETED)
    assert renewed.count() == 1 and renewed.get() != first


def test_the_saved_card_page_is_only_for_simulated_payments(alice_client, alice, settings):
    card = SimulatedCard.objects.create(reference="simcard_x", return_url="/")
    PaymentMethod.objects.create(customer=alice, gateway="simulated",
                                 setup_reference=card.reference)
    settings.ALLOW_SIMULATED_PAYMENTS = False
    assert alice_client.get(reverse("billing:simulated_card",
                                    args=[card.reference])).status_code == 404


def test_removing_a_saved_card(alice_client, auto_renewing, bob):
    settings_url = reverse("renewals:settings", args=[auto_renewing.pk])
    in_use = auto_renewing.renewal_payment_method
    spare = save_card(alice_client, next_url=settings_url)
    remove = reverse("billing:card_remove", args=[in_use.pk])

    # The card that pays the auto-renewal stays until another is chosen.
    page = alice_client.post(remove, {"next": settings_url}, follow=True).content.decode()
    assert "This card pays the auto-renewal of" in page
    assert PaymentMethod.objects.get(pk=in_use.pk).status == PaymentMethod.Status.ACTIVE

    other = Client()
    other.force_login(bob)  # Bob cannot remove Alice's card
    assert other.post(reverse("billing:card_remove", args=[spare.pk])).status_code == 404

    page = alice_client.post(reverse("billing:card_remove", args=[spare.pk]),
                             {"next": settings_url}, follow=True).content.decode()
    assert "Card removed: Visa" in page
    assert PaymentMethod.objects.get(pk=spare.pk).status == PaymentMethod.Status.REMOVED
    assert not SimulatedCard.objects.get(reference=spare.reference).saved
    form = alice_client.get(settings_url).context["form"]
    assert list(form.fields["card"].queryset) == [in_use]  # no longer offered


@pytest.mark.parametrize("gateway_answers", [True, False])
def test_a_payment_the_customer_opened_and_left_does_not_hold_the_retry_back(
        alice_client, installed_esim, django_capture_on_commit_callbacks, gateway_answers):
    """After a decline the customer opens the pay page (its payment is theirs, on-session)
    and leaves, or the gateway could not even start it: the retry still charges the
    saved card, once the customer has fixed it."""
    with first_attempt(alice_client, installed_esim, "insufficient_funds",
                       django_capture_on_commit_callbacks) as (clock, order):
        if gateway_answers:
            alice_client.post(reverse("billing:pay", args=[order.number]))  # then leaves
        else:
            with mock.patch.object(SimulatedGateway, "charge_start",
                                   side_effect=GatewayRetryableError("connection reset")):
                alice_client.post(reverse("billing:pay", args=[order.number]))
        left = order.payments.get(off_session=False)
        assert left.status == Payment.Status.CREATED
        SimulatedCard.objects.filter(
            reference=order.payments.get(off_session=True).payment_method.reference
        ).update(behaviour="success")  # topped up the account
        clock.move_to(order.created_at + timedelta(days=1, minutes=1))
        sweep(django_capture_on_commit_callbacks)
    order.refresh_from_db()
    assert order.status == Order.Status.COMPLETED
    assert order.payments.filter(off_session=True, status="succeeded").count() == 1
    assert Payment.objects.get(pk=left.pk).status == Payment.Status.CREATED  # untouched
