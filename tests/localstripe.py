"""localstripe, a fake Stripe server, run by the tests of the Stripe gateway.

One server per test session on a free port, emptied before each test. Unlike Stripe it
ignores idempotency keys, refuses some parameters Stripe takes (`description`,
`error_on_requires_action`) and answers an off-session charge on a 3-D Secure card with
`requires_action` instead of an `authentication_required` error, so the gateway handles
both shapes and the portal's own rows keep charges single. The helpers here stand in for what
Stripe.js would do in a browser (give the PaymentIntent a card, confirm it, pass or fail
the bank's 3-D Secure check).
"""

import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import pytest
import requests
import stripe

from tests import services

SECRET_KEY = "sk_test_portal"
PUBLISHABLE_KEY = "pk_test_portal"
WEBHOOK_SECRET = "whsec_test_portal"

# Stripe's test cards, as localstripe knows them.
CARD_OK = "4242424242424242"
CARD_DECLINED = "4000000000000341"  # declined when charged (attaching works)
CARD_DECLINED_ON_SAVE = "4000000000000002"  # declined when saved
CARD_3DS = "4000002760003184"  # the bank asks for 3-D Secure


@dataclass
class LocalStripe:
    url: str

    @property
    def js_url(self) -> str:
        return f"{self.url}/js.stripe.com/v3/"

    def reset(self) -> None:
        requests.delete(f"{self.url}/_config/data", timeout=5).raise_for_status()
        self.webhooks_to(None)

    def webhooks_to(self, url: str | None, events: list[str] | None = None) -> None:
        """Send events to `url` (None: to nowhere). localstripe keeps its webhooks when
        its data is cleared, so each test starts by pointing them nowhere."""
        body = {"url": url or "http://127.0.0.1:9/", "secret": WEBHOOK_SECRET,
                "events": events if url else ["none.none"]}
        requests.post(f"{self.url}/_config/webhooks/portal", json=body,
                      timeout=5).raise_for_status()

    def client(self) -> stripe.StripeClient:
        return stripe.StripeClient(SECRET_KEY, base_addresses={"api": self.url},
                                   max_network_retries=0)

    def card(self, number: str) -> str:
        return self.client().v1.payment_methods.create(params={
            "type": "card",
            "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"}}).id

    def pay(self, reference: str, number: str = CARD_OK) -> str:
        """What Stripe.js does when the customer submits a card: returns the
        PaymentIntent's status afterwards (a decline leaves requires_payment_method)."""
        client = self.client()
        client.v1.payment_intents.update(reference, params={"payment_method": self.card(number)})
        try:
            return client.v1.payment_intents.confirm(reference).status
        except stripe.CardError:
            return client.v1.payment_intents.retrieve(reference).status

    def authenticate(self, reference: str, *, success: bool = True) -> str:
        """The customer passes (or fails) the bank's 3-D Secure check."""
        secret = self.client().v1.payment_intents.retrieve(reference).client_secret
        response = requests.post(
            f"{self.url}/v1/payment_intents/{reference}/_authenticate",
            params={"success": "true" if success else "false"},
            json={"key": PUBLISHABLE_KEY, "client_secret": secret}, timeout=5)
        response.raise_for_status()
        return response.json()["status"]

    def save_card(self, setup_reference: str, number: str = CARD_OK) -> str:
        """What Stripe.js does when the customer saves a card; returns the status."""
        try:
            return self.client().v1.setup_intents.confirm(
                setup_reference, params={"payment_method": self.card(number)}).status
        except stripe.CardError:
            return self.client().v1.setup_intents.retrieve(setup_reference).status


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        return requests.get(f"{url}/js.stripe.com/v3/", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def localstripe_session():
    """Start localstripe; yields a LocalStripe, or None when it could not start."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "localstripe", "--port", str(port), "--from-scratch"],
                stdout=log, stderr=subprocess.STDOUT)
        except OSError:
            yield None
            return
        try:
            deadline = time.monotonic() + 20
            while process.poll() is None and time.monotonic() < deadline:
                if _answers(url):
                    break
                time.sleep(0.1)
            yield LocalStripe(url) if process.poll() is None and _answers(url) else None
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


# Imported by the conftest.py of the tests that use them.
@pytest.fixture(scope="session", name="localstripe_server")
def localstripe_server_fixture():
    yield from localstripe_session()


@pytest.fixture(name="localstripe")
def localstripe_fixture(localstripe_server, settings):
    """An empty localstripe, with the portal's Stripe gateway pointed at it."""
    services.need(localstripe_server is not None,
                  "localstripe (python -m localstripe, from the dev dependencies)")
    localstripe_server.reset()
    settings.PAYMENT_GATEWAY = "stripe"
    settings.STRIPE_SECRET_KEY = SECRET_KEY
    settings.STRIPE_PUBLISHABLE_KEY = PUBLISHABLE_KEY
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_API_BASE = localstripe_server.url
    settings.STRIPE_JS_URL = localstripe_server.js_url
    settings.STRIPE_PAYMENT_METHODS = ["card"]
    yield localstripe_server
    localstripe_server.webhooks_to(None)
