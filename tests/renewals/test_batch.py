"""Auto-renewals as a set, as the sweep hands them out: the same outcomes as one at a
time, and each renewal charged, receipted and applied once whatever repeats or dies."""

from datetime import timedelta
from smtplib import SMTPServerDisconnected
from unittest import mock

import pytest
import time_machine
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.utils import timezone

from billing import services as billing_services
from billing import tasks as billing_tasks
from billing.gateways import GatewayRetryableError
from billing.gateways.simulated import SimulatedGateway
from billing.models import Order, Payment, Receipt, SimulatedCharge
from carrier.client import CarrierRejected, CarrierUnavailable
from carrier_sim.identifiers import iccid_make
from esims.models import Bundle, ESim
from notifications import requests as notification_requests
from notifications import services as notification_services
from notifications.models import DeliveryAttempt, Notification
from renewals import services, tasks
from tests.factories import auto_renewing_esim

pytestmark = pytest.mark.django_db


def due_esims(owner, carrier, behaviours):
    """Installed eSIMs known to the carrier, their plans ending in two hours (the charge
    is due), auto-renewal on with cards that answer as `behaviours` say."""
    esims = []
    for iccid, behaviour in zip(carrier.create_profiles(len(behaviours)), behaviours,
                                strict=True):
        esim = auto_renewing_esim(owner, behaviour=behaviour, ends_in=timedelta(hours=2))
        ESim.objects.filter(pk=esim.pk).update(iccid=iccid)
        esims.append(ESim.objects.get(pk=esim.pk))
    return esims


def off_session_charges():
    return SimulatedCharge.objects.filter(idempotency_key__isnull=False).count()


def renewal_orders():
    return Order.objects.filter(kind=Order.Kind.RENEWAL)


def test_a_batch_does_what_one_run_at_a_time_does(alice, carrier,
                                                   django_capture_on_commit_callbacks):
    pays, pays_too, declines, asks, switched_off = due_esims(
        alice, carrier, ["success", "success", "card_declined", "authenticate", "success"])
    services.auto_renew_switch_off(esim=switched_off)
    later = auto_renewing_esim(alice, ends_in=timedelta(days=5))
    batch = [e.pk for e in (pays, pays_too, declines, asks, switched_off, later)]

    with django_capture_on_commit_callbacks(execute=True):
        tasks.renewal_run_batch(batch)  # as the sweep hands them out

    # The two good cards: charged once, paid, receipted with consecutive numbers, the new
    # plan applied at the carrier and the customer told.
    for esim in (pays, pays_too):
        order = renewal_orders().get(esim=esim)
        assert order.status == Order.Status.COMPLETED
        assert order.payments.get().status == Payment.Status.SUCCEEDED
        assert order.bundle.applied_at is not None
        assert ESim.objects.get(pk=esim.pk).renewal_attention == ""
    sequences = sorted(Receipt.objects.values_list("sequence", flat=True))
    assert len(sequences) == 2 and sequences[1] == sequences[0] + 1
    # The decline and the bank's challenge: as one run at a time leaves them.
    for esim, status, attention in (
            (declines, Payment.Status.FAILED, ESim.RenewalAttention.PAYMENT_FAILED),
            (asks, Payment.Status.REQUIRES_ACTION, ESim.RenewalAttention.NEEDS_CONFIRMATION)):
        order = renewal_orders().get(esim=esim)
        assert order.status == Order.Status.PENDING_PAYMENT
        assert order.payments.get().status == status
        esim.refresh_from_db()
        assert esim.renewal_attention == attention
        assert esim.renew_at == order.created_at + timedelta(days=1)  # the first retry
    # Switched off, and not due yet: nothing.
    assert not renewal_orders().filter(esim__in=[switched_off, later]).exists()
    assert off_session_charges() == 4
    sent = sorted(Notification.objects.filter(status="sent").values_list("kind", flat=True))
    assert sent == ["order_paid", "order_paid", "payment_action", "payment_failed"]
    assert len(mail.outbox) == 4


def test_a_batch_delivered_again_charges_and_receipts_nothing_more(
        alice, carrier, django_capture_on_commit_callbacks):
    esims = due_esims(alice, carrier, ["success", "success", "card_declined"])
    batch = [e.pk for e in esims]
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            tasks.renewal_run_batch(batch)
    assert renewal_orders().count() == 3 and off_session_charges() == 3
    assert Receipt.objects.count() == 2
    assert Bundle.objects.filter(order__kind=Order.Kind.RENEWAL).count() == 2
    assert Notification.objects.filter(kind="payment_failed").count() == 1


def test_a_batch_killed_after_charging_and_before_recording_finishes_once(
        alice, carrier, django_capture_on_commit_callbacks):
    esims = due_esims(alice, carrier, ["success", "success", "success"])
    batch = [e.pk for e in esims]
    with mock.patch.object(billing_services, "_payments_record",
                           side_effect=RuntimeError("worker killed")), \
            pytest.raises(RuntimeError):
        services.renewal_run_many(esim_ids=batch)
    # Charged at the gateway, nothing recorded here: the payments are open and claimed.
    assert off_session_charges() == 3
    assert set(Payment.objects.values_list("status", flat=True)) == {Payment.Status.CREATED}
    assert not Receipt.objects.exists()

    # Delivered again at once: the dead run's claims stand, so nobody calls the gateway.
    with django_capture_on_commit_callbacks(execute=True):
        assert set(services.renewal_run_many(esim_ids=batch).values()) == {"busy"}
    assert off_session_charges() == 3

    # After the claim timeout: the same keys get the same charges back, recorded once.
    later = timezone.now() + billing_services.CHARGE_CLAIM_TIMEOUT + timedelta(seconds=1)
    with time_machine.travel(later), django_capture_on_commit_callbacks(execute=True):
        assert set(services.renewal_run_many(esim_ids=batch).values()) == {"paid"}
    assert off_session_charges() == 3
    assert Payment.objects.filter(status=Payment.Status.SUCCEEDED).count() == 3
    assert sorted(Receipt.objects.values_list("sequence", flat=True)) == [1, 2, 3]
    assert Bundle.objects.filter(order__kind=Order.Kind.RENEWAL).count() == 3


def test_the_gateway_out_of_reach_for_one_renewal_holds_back_only_that_one(
        alice, carrier, django_capture_on_commit_callbacks):
    reachable, unreachable = due_esims(alice, carrier, ["success", "success"])
    charge = SimulatedGateway.charge_off_session

    def flaky(self, *, payment, card_reference, description):
        if payment.order.esim_id == unreachable.pk:
            raise GatewayRetryableError("connection reset")
        return charge(self, payment=payment, card_reference=card_reference,
                      description=description)

    with mock.patch.object(SimulatedGateway, "charge_off_session", flaky), \
            django_capture_on_commit_callbacks(execute=True):
        outcome = services.renewal_run_many(esim_ids=[reachable.pk, unreachable.pk])
    assert outcome == {reachable.pk: "paid", unreachable.pk: "gateway_unreachable"}
    waiting = renewal_orders().get(esim=unreachable).payments.get()
    # Open, not claimed: the next try goes at once, with the same payment and key.
    assert waiting.status == Payment.Status.CREATED and waiting.charge_claimed_at is None

    with django_capture_on_commit_callbacks(execute=True):
        assert services.renewal_run_many(esim_ids=[unreachable.pk]) == {
            unreachable.pk: "paid"}
    assert renewal_orders().get(esim=unreachable).payments.get().pk == waiting.pk
    assert off_session_charges() == 2


def test_a_carrier_refusal_fails_only_its_own_order(alice, carrier,
                                                    django_capture_on_commit_callbacks):
    good, refused = due_esims(alice, carrier, ["success", "success"])
    ESim.objects.filter(pk=refused.pk).update(iccid=iccid_make(999_999))  # unknown there
    with mock.patch.object(billing_services, "_enqueue_activation"):
        services.renewal_run_many(esim_ids=[good.pk, refused.pk])
    orders = {o.esim_id: o.pk for o in renewal_orders()}

    outcome = billing_services.orders_activate(order_ids=list(orders.values()))
    assert outcome[orders[good.pk]] is None
    assert isinstance(outcome[orders[refused.pk]], CarrierRejected)
    billing_tasks.orders_activate(list(orders.values()))  # again, as the task: it gives up
    assert renewal_orders().get(esim=good).status == Order.Status.COMPLETED
    failed = renewal_orders().get(esim=refused)
    assert failed.status == Order.Status.FAILED and "unknown_iccid" in failed.failure_reason


def test_a_batch_of_messages_sends_each_once_and_retries_only_the_failed_one(
        alice, carrier, django_capture_on_commit_callbacks):
    esims = due_esims(alice, carrier, ["success", "success", "success"])
    with mock.patch.object(notification_requests, "_enqueue"):
        services.renewal_run_many(esim_ids=[e.pk for e in esims])
    ids = list(Notification.objects.filter(kind="order_paid").values_list("pk", flat=True))
    assert len(ids) == 3
    unlucky = ids[1]
    send = LocmemBackend.send_messages

    def flaky(self, messages):
        if Notification.objects.get(pk=unlucky).order.number in messages[0].subject:
            raise SMTPServerDisconnected("connection dropped")
        return send(self, messages)

    with mock.patch.object(LocmemBackend, "send_messages", flaky):
        outcome = notification_services.notifications_deliver(notification_ids=ids)
    assert [pk for pk, error in outcome.items() if error is not None] == [unlucky]
    assert outcome[unlucky].retryable
    assert Notification.objects.get(pk=unlucky).status == Notification.Status.PENDING
    assert Notification.objects.filter(status="sent").count() == 2 and len(mail.outbox) == 2

    # Delivered again once it is due: only the one that failed goes out.
    with time_machine.travel(Notification.objects.get(pk=unlucky).next_attempt_at):
        outcome = notification_services.notifications_deliver(notification_ids=ids)
    assert outcome == {unlucky: None}
    assert len(mail.outbox) == 3
    assert DeliveryAttempt.objects.filter(succeeded=False).count() == 1
    assert DeliveryAttempt.objects.filter(succeeded=True).count() == 3


def test_the_carrier_busy_for_a_batch_leaves_every_order_to_try_again(
        alice, carrier, django_capture_on_commit_callbacks):
    esims = due_esims(alice, carrier, ["success", "success", "success"])
    with mock.patch.object(billing_services, "_enqueue_activation"):
        services.renewal_run_many(esim_ids=[e.pk for e in esims])
    ids = list(renewal_orders().values_list("pk", flat=True))

    carrier.configure(failure_rate=1.0)
    outcome = billing_services.orders_activate(order_ids=ids)
    assert all(isinstance(error, CarrierUnavailable) for error in outcome.values())
    assert set(renewal_orders().values_list("status", flat=True)) == {Order.Status.ACTIVATING}

    carrier.configure(failure_rate=0.0)
    assert set(billing_services.orders_activate(order_ids=ids).values()) == {None}
    assert set(renewal_orders().values_list("status", flat=True)) == {Order.Status.COMPLETED}
    for esim in esims:  # applied once at the carrier, however many calls it took
        order = renewal_orders().get(esim=esim)
        at_carrier = carrier.app.test_client().get(
            f"/api/v1/esims/{esim.iccid}/bundles", headers={"X-API-Key": carrier.api_key}
        ).json["bundles"]
        assert [b["reference"] for b in at_carrier] == [order.number]


def test_a_message_that_cannot_be_written_fails_alone(alice, carrier):
    esims = due_esims(alice, carrier, ["success", "success"])
    with mock.patch.object(notification_requests, "_enqueue"):
        services.renewal_run_many(esim_ids=[e.pk for e in esims])
    broken, fine = Notification.objects.filter(kind="order_paid").order_by("pk")
    context = notification_services._context

    def flaky(notification):
        if notification.pk == broken.pk:
            raise KeyError("a bug in one message")
        return context(notification)

    with mock.patch.object(notification_services, "_context", flaky):
        outcome = notification_services.notifications_deliver(
            notification_ids=[broken.pk, fine.pk])
    assert outcome[fine.pk] is None and not outcome[broken.pk].retryable
    assert Notification.objects.get(pk=broken.pk).status == Notification.Status.FAILED
    assert Notification.objects.get(pk=fine.pk).status == Notification.Status.SENT
    assert len(mail.outbox) == 1


def test_a_slow_gateway_renews_the_batch_claims_and_leaves_what_was_taken_over(
        alice, carrier, django_capture_on_commit_callbacks):
    first, second, third = due_esims(alice, carrier, ["success", "success", "success"])
    charge = billing_services._charge_claimed
    called = []
    with time_machine.travel(timezone.now(), tick=False) as clock:

        def slow(*, payment, claimed_at):
            called.append(payment.order.esim_id)
            if payment.order.esim_id == first.pk:
                # The gateway takes 6 minutes; meanwhile another run, seeing the second
                # payment's claim expired, takes it over.
                clock.shift(timedelta(minutes=6))
                Payment.objects.filter(order__esim=second).update(
                    charge_claimed_at=timezone.now() - timedelta(seconds=1))
            return charge(payment=payment, claimed_at=claimed_at)

        with mock.patch.object(billing_services, "_charge_claimed", slow), \
                django_capture_on_commit_callbacks(execute=True):
            outcome = services.renewal_run_many(esim_ids=[first.pk, second.pk, third.pk])
    # The third payment's claim was renewed and it was charged; the second was left to
    # the run that holds it.
    assert called == [first.pk, third.pk]
    assert outcome == {first.pk: "paid", second.pk: "busy", third.pk: "paid"}
    assert off_session_charges() == 2


def test_the_simulated_bank_answers_a_repeated_key_with_its_charge_even_after_removal(
        alice, carrier, django_capture_on_commit_callbacks):
    from billing.gateways import GatewayError
    from billing.models import SimulatedCard

    paid, never_charged = due_esims(alice, carrier, ["success", "success"])
    with django_capture_on_commit_callbacks(execute=True):
        services.renewal_run_many(esim_ids=[paid.pk])
    payment = Payment.objects.get(order__esim=paid)
    SimulatedCard.objects.update(saved=False)  # both cards removed at the bank
    gateway = SimulatedGateway()
    again = gateway.charge_off_session(payment=payment, card_reference=payment.payment_method
                                       .reference, description="again")
    assert again.reference == payment.gateway_reference and again.status == "succeeded"
    fresh = Payment(pk=10**6, order=payment.order, amount_minor=1, currency="USD")
    with pytest.raises(GatewayError):
        gateway.charge_off_session(payment=fresh, description="new",
                                   card_reference=never_charged.renewal_payment_method.reference)
    assert off_session_charges() == 1
