"""Stripe's webhook: verified, stored once by event id, acted on once through the same
fulfilment as the customer's return, whatever the order or number of deliveries."""

import time
from datetime import timedelta
from unittest import mock

import pytest
from django.urls import reverse
from django.utils import timezone

from billing import gateway_events, services, tasks
from billing.gateways import GatewayRetryableError
from billing.models import GatewayEvent, Order, Payment, PaymentMethod, Receipt
from esims.models import Bundle
from tests.localstripe import CARD_OK

from .conftest import intent_event, signed

WEBHOOK = reverse("stripe_webhook")


@pytest.fixture
def post_event(client, django_capture_on_commit_callbacks):
    """Deliver an event as Stripe would, running what it queues after the commit."""
    def post(payload, **headers):
        body, signature = signed(payload)
        headers.setdefault("HTTP_STRIPE_SIGNATURE", signature)
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(WEBHOOK, body, content_type="application/json", **headers)
    return post


@pytest.fixture
def paid_at_stripe(localstripe, payment):
    """Alice paid at Stripe; the portal has not heard yet."""
    assert localstripe.pay(payment.gateway_reference, CARD_OK) == "succeeded"
    return payment


@pytest.mark.django_db
def test_a_bad_signature_is_refused_and_changes_nothing(client, paid_at_stripe):
    payload = intent_event("evt_1", "payment_intent.succeeded", paid_at_stripe.gateway_reference)
    body, right = signed(payload)
    tampered, _ = signed({**payload, "type": "payment_intent.canceled"})
    for content, signature in ((body, signed(payload, secret="whsec_other")[1]),
                               (tampered, right), (body, "t=1,v1=00")):
        response = client.post(WEBHOOK, content, content_type="application/json",
                               HTTP_STRIPE_SIGNATURE=signature)
        assert response.status_code == 400
    assert not GatewayEvent.objects.exists()
    assert Payment.objects.get(pk=paid_at_stripe.pk).status == "created"


@pytest.mark.django_db
def test_a_missing_signature_or_a_body_not_json_is_refused(client, post_event, localstripe):
    body, _ = signed({"id": "evt_1", "type": "payment_intent.succeeded"})
    assert client.post(WEBHOOK, body, content_type="application/json").status_code == 400
    body, signature = signed(b"not json")
    response = client.post(WEBHOOK, body, content_type="application/json",
                           HTTP_STRIPE_SIGNATURE=signature)
    assert response.status_code == 400
    assert post_event(["a list"]).status_code == 400
    assert client.get(WEBHOOK).status_code == 405
    assert not GatewayEvent.objects.exists()


@pytest.mark.django_db
def test_the_webhook_needs_no_login_and_no_csrf_token(localstripe, paid_at_stripe):
    from django.test import Client

    body, signature = signed(intent_event("evt_1", "payment_intent.succeeded",
                                          paid_at_stripe.gateway_reference))
    response = Client(enforce_csrf_checks=True).post(
        WEBHOOK, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature)
    assert response.status_code == 200


@pytest.mark.django_db
def test_an_event_delivered_ten_times_fulfils_once(post_event, paid_at_stripe, order):
    payload = intent_event("evt_1", "payment_intent.succeeded", paid_at_stripe.gateway_reference)
    with mock.patch.object(tasks.gateway_event_process, "delay",
                           wraps=tasks.gateway_event_process.delay) as delay:
        for _ in range(10):
            assert post_event(payload).status_code == 200
    delay.assert_called_once()
    event = GatewayEvent.objects.get()
    assert (event.gateway, event.event_id, event.type) == (
        "stripe", "evt_1", "payment_intent.succeeded")
    assert event.processed_at is not None and event.payload == payload
    order.refresh_from_db()
    assert order.paid_at is not None
    assert Bundle.objects.filter(order=order).count() == 1
    assert Receipt.objects.filter(order=order).count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("first, second", [
    ("payment_intent.succeeded", "payment_intent.payment_failed"),
    ("payment_intent.payment_failed", "payment_intent.succeeded"),
    ("payment_intent.requires_action", "payment_intent.succeeded"),
    ("payment_intent.processing", "payment_intent.payment_failed"),
])
def test_events_out_of_order_leave_the_order_paid_once(post_event, paid_at_stripe, order,
                                                       first, second):
    """An event only says "look": Stripe is asked, and it says the payment succeeded."""
    reference = paid_at_stripe.gateway_reference
    post_event(intent_event("evt_1", first, reference))
    post_event(intent_event("evt_2", second, reference))
    order.refresh_from_db()
    assert order.paid_at is not None
    assert Payment.objects.get(pk=paid_at_stripe.pk).status == "succeeded"
    assert Bundle.objects.filter(order=order).count() == 1
    assert Receipt.objects.filter(order=order).count() == 1
    assert GatewayEvent.objects.filter(processed_at__isnull=False).count() == 2


@pytest.mark.django_db
def test_a_decline_event_fails_the_payment(post_event, localstripe, payment, order):
    localstripe.pay(payment.gateway_reference, "4000000000000341")
    post_event(intent_event("evt_1", "payment_intent.payment_failed", payment.gateway_reference))
    payment.refresh_from_db()
    assert (payment.status, payment.failure_code) == ("failed", "card_declined")
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING_PAYMENT


@pytest.mark.django_db
def test_events_for_nothing_here_are_stored_and_done(post_event, localstripe):
    post_event(intent_event("evt_1", "payment_intent.succeeded", "pi_elsewhere"))
    post_event({"id": "evt_2", "type": "customer.created", "data": {"object": {"id": "cus_1"}}})
    post_event({"id": "evt_3", "type": "setup_intent.succeeded",
                "data": {"object": {"id": "seti_elsewhere"}}})
    assert GatewayEvent.objects.filter(processed_at__isnull=False).count() == 3


@pytest.mark.django_db
def test_a_setup_event_saves_the_card(post_event, localstripe, alice):
    method = services.card_setup_start(customer=alice, cancel_url="/esims/")
    localstripe.save_card(method.setup_reference, CARD_OK)
    post_event({"id": "evt_1", "type": "setup_intent.succeeded",
                "data": {"object": {"id": method.setup_reference, "object": "setup_intent"}}})
    method.refresh_from_db()
    assert (method.status, method.last4) == (PaymentMethod.Status.ACTIVE, "4242")


@pytest.mark.django_db
def test_an_event_stripe_could_not_answer_for_is_swept_later(post_event, paid_at_stripe,
                                                            order):
    payload = intent_event("evt_1", "payment_intent.succeeded", paid_at_stripe.gateway_reference)
    with mock.patch("billing.services.payment_sync",
                    side_effect=GatewayRetryableError("Stripe is down")):
        assert post_event(payload).status_code == 200
    event = GatewayEvent.objects.get()
    assert event.processed_at is None
    assert tasks.gateway_event_sweep() == 0  # not stale yet
    GatewayEvent.objects.filter(pk=event.pk).update(
        received_at=timezone.now() - timedelta(minutes=6))
    assert tasks.gateway_event_sweep() == 1
    event.refresh_from_db()
    assert event.processed_at is not None
    order.refresh_from_db()
    assert order.paid_at is not None
    assert tasks.gateway_event_sweep() == 0


@pytest.mark.django_db
def test_processing_a_processed_event_does_nothing(post_event, paid_at_stripe):
    post_event(intent_event("evt_1", "payment_intent.succeeded", paid_at_stripe.gateway_reference))
    event = GatewayEvent.objects.get()
    with mock.patch("billing.services.payment_sync") as sync:
        gateway_events.gateway_event_process(event_pk=event.pk)
    sync.assert_not_called()


@pytest.mark.django_db(transaction=True)
def test_a_webhook_sent_by_localstripe_pays_the_order(live_server, localstripe, payment,
                                                      order):
    localstripe.webhooks_to(f"{live_server.url}{WEBHOOK}",
                            events=["payment_intent.succeeded", "payment_intent.payment_failed"])
    localstripe.pay(payment.gateway_reference, CARD_OK)  # nobody calls payment_sync here
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if Order.objects.get(pk=order.pk).paid_at is not None:
            break
        time.sleep(0.2)
    assert Order.objects.get(pk=order.pk).paid_at is not None
    # (Events of earlier tests' PaymentIntents may arrive too: localstripe sends each
    # about a second late, to the webhooks registered then. They find nothing here.)
    event = GatewayEvent.objects.get(type="payment_intent.succeeded",
                                     payload__data__object__id=payment.gateway_reference)
    assert event.gateway == "stripe" and event.event_id.startswith("evt_")
    assert event.processed_at is not None
    assert Receipt.objects.filter(order=order).count() == 1
