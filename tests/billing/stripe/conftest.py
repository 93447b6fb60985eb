import hashlib
import hmac
import json
import time

import pytest

from billing import services
from tests.factories import OrderFactory
from tests.localstripe import (  # noqa: F401 (fixtures)
    WEBHOOK_SECRET,
    localstripe_fixture,
    localstripe_server_fixture,
)


@pytest.fixture
def order(alice, plans):
    return OrderFactory(customer=alice, plan=plans["week"])


@pytest.fixture
def payment(localstripe, order):
    """A payment started at (local) Stripe for Alice's order, not paid yet."""
    return services.payment_start(order=order, return_url_for=lambda p: "/back")


def signed(payload, secret: str = WEBHOOK_SECRET) -> tuple[bytes, str]:
    """A webhook body (JSON of `payload`, or `payload` itself if bytes) and its
    Stripe-Signature header, signed as Stripe does."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    timestamp = int(time.time())
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return body, f"t={timestamp},v1={digest.hexdigest()}"


def intent_event(event_id: str, event_type: str, reference: str) -> dict:
    return {"id": event_id, "object": "event", "type": event_type,
            "data": {"object": {"id": reference, "object": "payment_intent"}}}
