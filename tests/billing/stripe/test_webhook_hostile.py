"""Stripe's webhook under hostile input: the signature is checked before the body is
read, anything that is not a signed, storable event of the expected shape is a 400 that
stores nothing, and an odd event already stored cannot crash its processing."""

import json
import time
from unittest import mock

import pytest
from django.urls import reverse

from billing import gateway_events
from billing.models import GatewayEvent
from tests.localstripe import WEBHOOK_SECRET

from .conftest import intent_event, signed

WEBHOOK = reverse("stripe_webhook")
BIG = "x" * 100_000

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def webhook_secret(settings):
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET


def deliver(client, body: bytes, signature: str):
    return client.post(WEBHOOK, body, content_type="application/json",
                       HTTP_STRIPE_SIGNATURE=signature)


def event(**changes):
    payload = intent_event("evt_1", "payment_intent.succeeded", "pi_123")
    for key, value in changes.items():
        if key == "object":
            payload["data"]["object"] = value
        elif key.startswith("object__"):
            payload["data"]["object"][key.removeprefix("object__")] = value
        else:
            payload[key] = value
    return payload


@pytest.mark.parametrize("header", [
    lambda sig: sig[:-1] + "é",
    lambda sig: sig.replace("v1=", "v1=\xff"),
    lambda sig: "t=é,v1=00",
    lambda sig: sig + ",v1=" + "é" * 64,
    lambda sig: "t=" + "9" * 5000 + ",v1=00",
    lambda sig: sig + "," + "v1=00," * 10_000,
], ids=["last-char", "latin1", "timestamp", "second-signature", "huge-timestamp",
        "huge-header"])
def test_a_signature_header_that_is_not_short_ascii_is_a_400(client, header):
    body, signature = signed(event())
    assert deliver(client, body, header(signature)).status_code == 400
    assert not GatewayEvent.objects.exists()


@pytest.mark.parametrize("body", [
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
], ids=["array", "object"])
@pytest.mark.parametrize("signature_kind", ["unsigned", "signed"])
def test_a_deeply_nested_body_is_a_400_signed_or_not(client, body, signature_kind):
    signature = signed(body)[1] if signature_kind == "signed" else "t=1,v1=" + "0" * 64
    assert deliver(client, body, signature).status_code == 400
    assert not GatewayEvent.objects.exists()


def test_the_signature_is_checked_before_the_body_is_parsed(client):
    body = b"[" * 100_000 + b"]" * 100_000
    with mock.patch("json.loads", side_effect=AssertionError("parsed before the check")):
        assert deliver(client, body, "t=1,v1=" + "0" * 64).status_code == 400


@pytest.mark.parametrize("changes", [
    {"id": 7},
    {"id": ""},
    {"id": BIG},
    {"id": "evt_" + "a" * 200},
    {"id": "cus_1"},
    {"id": {"id": "evt_1"}},
    {"type": BIG},
    {"type": ["payment_intent.succeeded"]},
    {"type": ""},
    {"data": None},
    {"data": ["x"]},
    {"data": "x"},
    {"object": None},
    {"object": ["pi_123"]},
    {"object": "pi_123"},
    {"object__id": {"id": "pi_123"}},
    {"object__id": BIG},
    {"object__id": 12},
    {"object__status": ["succeeded"]},
    {"object__status": BIG},
    {"object__amount": "1000"},
    {"object__amount": -1},
    {"object__amount": 10**30},
    {"object__amount": 10.5},
], ids=lambda changes: ",".join(f"{k}={str(v)[:20]}" for k, v in changes.items()))
def test_a_signed_event_of_the_wrong_shape_is_a_400(client, changes):
    body, signature = signed(event(**changes))
    assert deliver(client, body, signature).status_code == 400
    assert not GatewayEvent.objects.exists()


@pytest.mark.parametrize("extra", [
    b"NaN", b"Infinity", b"1e999", b'"\\u0000"', b'"\\udfff"', b"[" * 40 + b"]" * 40,
], ids=["nan", "infinity", "overflowing-float", "nul-char", "lone-surrogate", "deep"])
def test_a_signed_event_the_database_cannot_store_is_a_400(client, extra):
    """PostgreSQL's jsonb takes no NaN, infinity, NUL or lone surrogate: storing such an
    event used to be a 500, and Stripe would have sent it again and again."""
    body = json.dumps(event()).encode()[:-1] + b', "extra": ' + extra + b"}"
    body, signature = signed(body)
    assert deliver(client, body, signature).status_code == 400
    assert not GatewayEvent.objects.exists()


@pytest.mark.parametrize("body", [b"\xff\xfe{\x00}\x00", b'{"id": "\xff"}', b"", b"null"],
                         ids=["utf16", "not-utf8", "empty", "null"])
def test_a_signed_body_that_is_not_a_utf8_json_object_is_a_400(client, body):
    body, signature = signed(body)
    assert deliver(client, body, signature).status_code == 400
    assert not GatewayEvent.objects.exists()


def test_a_signed_event_stripe_may_send_is_stored(client, django_capture_on_commit_callbacks):
    payload = event(object__amount=1000, object__status="succeeded",
                    object__charges={"data": [{"id": "ch_1", "outcome": {"type": "authorized"}}]},
                    livemode=False, api_version="2024-06-20", request={"id": None})
    body, signature = signed(payload)
    with django_capture_on_commit_callbacks() as queued:
        assert deliver(client, body, signature).status_code == 200
    stored = GatewayEvent.objects.get()
    assert (stored.event_id, stored.type, stored.payload) == (
        "evt_1", "payment_intent.succeeded", payload)
    assert len(queued) == 1


def test_an_old_signature_is_refused(client):
    body = json.dumps(event()).encode()
    signature = signed(body)[1].replace(f"t={int(time.time())}", "t=1000")
    assert deliver(client, body, signature).status_code == 400


@pytest.mark.parametrize("payload", [
    {"id": "evt_1", "type": "payment_intent.succeeded", "data": ["x"]},
    {"id": "evt_1", "type": "payment_intent.succeeded", "data": "x"},
    {"id": "evt_1", "type": "payment_intent.succeeded", "data": {"object": ["pi_1"]}},
    {"id": "evt_1", "type": "setup_intent.succeeded", "data": {"object": {"id": {"a": 1}}}},
    {"id": "evt_1", "type": "payment_intent.succeeded"},
    ["not", "an", "object"],
], ids=["data-list", "data-string", "object-list", "id-object", "no-data", "list"])
def test_processing_an_odd_stored_event_marks_it_done_without_asking_the_gateway(payload):
    """An event stored before its shape was checked (or by hand) must not crash the
    processing task again and again: it is logged and marked processed."""
    stored = GatewayEvent.objects.create(gateway="stripe", event_id="evt_1",
                                         type="payment_intent.succeeded", payload=payload)
    with mock.patch("billing.services.payment_sync") as sync, \
            mock.patch("billing.services.card_setup_finish") as finish:
        gateway_events.gateway_event_process(event_pk=stored.pk)
    sync.assert_not_called()
    finish.assert_not_called()
    stored.refresh_from_db()
    assert stored.processed_at is not None
