"""The Stripe adapter against localstripe: customers, payments, 3-D Secure, saved cards,
off-session charges, refunds, and what Stripe's errors become."""

from unittest import mock

import pytest
import stripe

from billing import services
from billing.gateways import GatewayError, GatewayRetryableError, SavedCard, get_gateway
from billing.gateways.stripe import charge_from_intent, stripe_client
from billing.models import GatewayCustomer, Order, Payment, PaymentMethod, Receipt
from tests.factories import OrderFactory
from tests.localstripe import (
    CARD_3DS,
    CARD_DECLINED,
    CARD_DECLINED_ON_SAVE,
    CARD_OK,
    SECRET_KEY,
)

pytestmark = pytest.mark.django_db


def stripe_gateway():
    gateway = get_gateway()
    assert gateway.name == "stripe"
    return gateway


def intent(reference):
    return stripe_client().v1.payment_intents.retrieve(reference)


def off_session_payment(order):
    return Payment.objects.create(order=order, gateway="stripe", amount_minor=order.amount_minor,
                                  currency=order.currency, off_session=True)


# --- Customers ------------------------------------------------------------------------

def test_a_stripe_customer_is_made_once_per_user(localstripe, alice, bob, plans):
    for customer in (alice, alice, bob):
        order = OrderFactory(customer=customer, plan=plans["week"])
        services.payment_start(order=order, return_url_for=lambda p: "/back")
    assert GatewayCustomer.objects.filter(customer=alice, gateway="stripe").count() == 1
    references = set(GatewayCustomer.objects.values_list("reference", flat=True))
    assert len(references) == 2
    customers = stripe_client().v1.customers.list().data
    assert {c.id for c in customers} == references
    stored = GatewayCustomer.objects.get(customer=alice).reference
    assert stripe_client().v1.customers.retrieve(stored).email == "alice@example.com"


# --- Paying with the customer present --------------------------------------------------

def test_a_payment_starts_as_a_payment_intent_for_the_order(payment, order):
    assert payment.gateway == "stripe" and payment.gateway_reference.startswith("pi_")
    pi = intent(payment.gateway_reference)
    assert (pi.amount, pi.currency, pi.status) == (800, "usd", "requires_payment_method")
    assert pi.customer == GatewayCustomer.objects.get(customer=order.customer).reference
    assert pi.metadata.portal_payment == str(payment.pk)
    assert pi.metadata.order == order.number
    assert stripe_gateway().charge_retrieve(reference=payment.gateway_reference).status == (
        "pending")


def test_a_card_payment_pays_the_order(localstripe, payment, order):
    assert localstripe.pay(payment.gateway_reference, CARD_OK) == "succeeded"
    charge = stripe_gateway().charge_retrieve(reference=payment.gateway_reference)
    assert charge.status == "succeeded"
    payment = services.payment_sync(payment_id=payment.pk)
    order.refresh_from_db()
    assert payment.status == "succeeded" and order.status == Order.Status.PAID
    assert Receipt.objects.get(order=order).payment_method == "stripe"


def test_a_declined_card_fails_the_payment_with_the_reason(localstripe, payment, order):
    assert localstripe.pay(payment.gateway_reference, CARD_DECLINED) == (
        "requires_payment_method")
    charge = stripe_gateway().charge_retrieve(reference=payment.gateway_reference)
    assert (charge.status, charge.failure_code) == ("failed", "card_declined")
    assert charge.failure_message == "Your card was declined."
    payment = services.payment_sync(payment_id=payment.pk)
    assert (payment.status, payment.failure_code) == ("failed", "card_declined")
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING_PAYMENT
    # Trying again opens a new payment (and PaymentIntent), never reuses the failed one.
    again = services.payment_start(order=order, return_url_for=lambda p: "/back")
    assert again.pk != payment.pk and again.gateway_reference != payment.gateway_reference


def test_a_card_that_needs_3d_secure_pays_once_authenticated(localstripe, payment, order):
    reference = payment.gateway_reference
    assert localstripe.pay(reference, CARD_3DS) == "requires_action"
    assert stripe_gateway().charge_retrieve(reference=reference).status == "requires_action"
    assert services.payment_sync(payment_id=payment.pk).status == "requires_action"
    assert localstripe.authenticate(reference) == "succeeded"
    assert services.payment_sync(payment_id=payment.pk).status == "succeeded"
    order.refresh_from_db()
    assert order.status == Order.Status.PAID


def test_a_failed_3d_secure_check_fails_the_payment(localstripe, payment):
    localstripe.pay(payment.gateway_reference, CARD_3DS)
    localstripe.authenticate(payment.gateway_reference, success=False)
    payment = services.payment_sync(payment_id=payment.pk)
    assert (payment.status, payment.failure_code) == ("failed", "authentication_failed")
    assert "authentication" in payment.explanation


def _intent(status, error=None, **fields):
    return stripe.PaymentIntent.construct_from(
        {"id": "pi_1", "object": "payment_intent", "status": status,
         "last_payment_error": error, **fields}, "sk_test")


@pytest.mark.parametrize("status, error, expected", [
    ("succeeded", None, ("succeeded", "")),
    ("processing", None, ("pending", "")),
    ("requires_confirmation", None, ("pending", "")),
    ("requires_payment_method", None, ("pending", "")),
    ("requires_action", None, ("requires_action", "")),
    ("canceled", None, ("failed", "canceled")),
    ("requires_payment_method", {"code": "card_declined", "decline_code": "insufficient_funds"},
     ("failed", "insufficient_funds")),
    ("requires_payment_method", {"code": "expired_card"}, ("failed", "expired_card")),
    ("requires_payment_method", {"code": "card_declined", "decline_code": "generic_decline"},
     ("failed", "card_declined")),
    ("requires_payment_method", {"code": "card_declined", "decline_code": "stolen_card"},
     ("failed", "card_declined")),
    ("requires_payment_method", {"code": "payment_intent_authentication_failure"},
     ("failed", "authentication_failed")),
    # Real Stripe's off-session charge the bank wants authenticated: the customer can.
    ("requires_payment_method", {"code": "authentication_required",
                                 "decline_code": "authentication_required"},
     ("requires_action", "")),
])
def test_stripe_states_in_the_portals_terms(status, error, expected):
    charge = charge_from_intent(_intent(status, error))
    assert (charge.status, charge.failure_code) == expected
    assert charge.reference == "pi_1"


# --- Saved cards -----------------------------------------------------------------------

def test_saving_a_card(localstripe, alice):
    gateway = stripe_gateway()
    reference = gateway.card_setup_start(customer=alice, return_url="/esims/")
    assert reference.startswith("seti_")
    setup = stripe_client().v1.setup_intents.retrieve(reference)
    assert setup.usage == "off_session"
    assert setup.customer == GatewayCustomer.objects.get(customer=alice).reference
    assert gateway.card_setup_retrieve(reference=reference) is None  # not entered yet
    assert localstripe.save_card(reference, CARD_OK) == "succeeded"
    saved = gateway.card_setup_retrieve(reference=reference)
    assert saved == SavedCard(reference=saved.reference, brand="visa", last4="4242",
                              exp_month=12, exp_year=2034)
    assert saved.reference.startswith("pm_")


def test_removing_a_saved_card_detaches_it_at_stripe_once(localstripe, alice):
    method = services.card_setup_start(customer=alice, cancel_url="/esims/")
    localstripe.save_card(method.setup_reference, CARD_OK)
    method = services.card_setup_finish(payment_method_id=method.pk)
    customer = GatewayCustomer.objects.get(customer=alice).reference
    # Real Stripe attaches a card saved with a SetupIntent; localstripe must be told.
    stripe_client().v1.payment_methods.attach(method.reference, params={"customer": customer})
    assert stripe_client().v1.payment_methods.retrieve(method.reference).customer == customer
    services.card_remove(payment_method_id=method.pk)
    services.card_remove(payment_method_id=method.pk)  # again: nothing more happens
    assert PaymentMethod.objects.get(pk=method.pk).status == PaymentMethod.Status.REMOVED
    assert not stripe_client().v1.payment_methods.retrieve(method.reference).customer


def test_a_card_refused_when_saved_is_a_gateway_error(localstripe, alice):
    method = services.card_setup_start(customer=alice, cancel_url="/esims/")
    assert localstripe.save_card(method.setup_reference, CARD_DECLINED_ON_SAVE) == "canceled"
    with pytest.raises(GatewayError):
        stripe_gateway().card_setup_retrieve(reference=method.setup_reference)
    method = services.card_setup_finish(payment_method_id=method.pk)
    assert method.status == PaymentMethod.Status.FAILED


def test_a_card_waiting_for_3d_secure_is_not_saved_yet(localstripe, alice):
    method = services.card_setup_start(customer=alice, cancel_url="/esims/")
    assert localstripe.save_card(method.setup_reference, CARD_3DS) == "requires_action"
    method = services.card_setup_finish(payment_method_id=method.pk)
    assert method.status == PaymentMethod.Status.PENDING


@pytest.fixture
def saved_card(localstripe, alice):
    def save(number=CARD_OK):
        method = services.card_setup_start(customer=alice, cancel_url="/esims/")
        localstripe.save_card(method.setup_reference, number)
        method = services.card_setup_finish(payment_method_id=method.pk)
        assert method.status == PaymentMethod.Status.ACTIVE
        return method
    return save


# --- Charging a saved card without the customer ---------------------------------------

def test_an_off_session_charge_pays(saved_card, order):
    card = saved_card()
    payment = off_session_payment(order)
    charge = stripe_gateway().charge_off_session(payment=payment, card_reference=card.reference,
                                                 description="renewal")
    assert charge.status == "succeeded" and charge.reference.startswith("pi_")
    pi = intent(charge.reference)
    assert pi.payment_method == card.reference and pi.metadata.portal_payment == str(payment.pk)


def test_an_off_session_charge_declined(localstripe, order):
    payment = off_session_payment(order)
    charge = stripe_gateway().charge_off_session(
        payment=payment, card_reference=localstripe.card(CARD_DECLINED), description="renewal")
    assert (charge.status, charge.failure_code) == ("failed", "card_declined")
    assert charge.reference.startswith("pi_")  # found through the declined charge
    assert intent(charge.reference).metadata.portal_payment == str(payment.pk)


def test_an_off_session_charge_that_needs_3d_secure(localstripe, order):
    """localstripe's shape: the PaymentIntent waits in requires_action."""
    payment = off_session_payment(order)
    charge = stripe_gateway().charge_off_session(
        payment=payment, card_reference=localstripe.card(CARD_3DS), description="renewal")
    assert charge.status == "requires_action" and charge.reference.startswith("pi_")
    assert stripe_gateway().charge_customer_url(reference=charge.reference) == (
        f"/orders/gateway/stripe/{charge.reference}/")
    assert localstripe.authenticate(charge.reference) == "succeeded"
    assert stripe_gateway().charge_retrieve(reference=charge.reference).status == "succeeded"


def _card_error(error: dict) -> stripe.CardError:
    return stripe.CardError(error.get("message", "declined"), None, error.get("code"),
                            http_status=402, json_body={"error": {"type": "card_error", **error}},
                            headers={"request-id": "req_test"})


def test_real_stripes_authentication_required_error_asks_the_customer(localstripe, order):
    payment = off_session_payment(order)
    error = _card_error({"code": "authentication_required",
                         "decline_code": "authentication_required",
                         "message": "This payment requires authentication.",
                         "payment_intent": {"id": "pi_real", "status": "requires_payment_method"}})
    with mock.patch.object(stripe.PaymentIntentService, "create", side_effect=error):
        charge = stripe_gateway().charge_off_session(payment=payment, card_reference="pm_1",
                                                     description="renewal")
    assert (charge.status, charge.reference) == ("requires_action", "pi_real")


def test_real_stripes_decline_code_is_kept(localstripe, order):
    payment = off_session_payment(order)
    error = _card_error({"code": "card_declined", "decline_code": "insufficient_funds",
                         "message": "Your card has insufficient funds.",
                         "payment_intent": {"id": "pi_real"}})
    with mock.patch.object(stripe.PaymentIntentService, "create", side_effect=error):
        charge = stripe_gateway().charge_off_session(payment=payment, card_reference="pm_1",
                                                     description="renewal")
    assert (charge.status, charge.failure_code, charge.reference) == (
        "failed", "insufficient_funds", "pi_real")
    assert charge.failure_message == "Your card has insufficient funds."


def test_an_off_session_payment_already_sent_is_looked_up_not_charged_again(saved_card, order):
    card = saved_card()
    payment = off_session_payment(order)
    gateway = stripe_gateway()
    first = gateway.charge_off_session(payment=payment, card_reference=card.reference,
                                       description="renewal")
    payment.gateway_reference = first.reference
    payment.save(update_fields=["gateway_reference"])
    with mock.patch.object(stripe.PaymentIntentService, "create") as create:
        again = gateway.charge_off_session(payment=payment, card_reference=card.reference,
                                           description="renewal")
    create.assert_not_called()
    assert again == first


def test_a_repeated_off_session_call_sends_the_same_idempotency_key(saved_card, order,
                                                                    localstripe):
    """Stripe dedupes on the key (localstripe ignores it): a call repeated after a lost
    answer must carry the key of the first."""
    card = saved_card()
    payment = off_session_payment(order)
    keys = []

    class Recording(stripe.RequestsClient):
        def request(self, method, url, headers, post_data=None):
            if method == "post" and url.endswith("/v1/payment_intents"):
                keys.append(headers.get("Idempotency-Key"))
            return super().request(method, url, headers, post_data)

    client = stripe.StripeClient(SECRET_KEY, base_addresses={"api": localstripe.url},
                                 http_client=Recording())
    with mock.patch("billing.gateways.stripe.stripe_client", return_value=client):
        for _ in range(2):
            stripe_gateway().charge_off_session(payment=payment, card_reference=card.reference,
                                                description="renewal")
    assert keys == [payment.idempotency_key] * 2


# --- Refunds ---------------------------------------------------------------------------

def test_refunding_twice_makes_one_refund(localstripe, payment):
    localstripe.pay(payment.gateway_reference)
    gateway = stripe_gateway()
    key = services.order_refund_key(payment.order)
    first = gateway.charge_refund(reference=payment.gateway_reference, amount_minor=800,
                                  idempotency_key=key)
    second = gateway.charge_refund(reference=payment.gateway_reference, amount_minor=800,
                                   idempotency_key=key)
    assert first == second and first.startswith("re_")
    refunds = stripe_client().v1.refunds.list(
        params={"payment_intent": payment.gateway_reference}).data
    assert [r.id for r in refunds] == [first] and refunds[0].amount == 800


def test_a_refund_carries_the_orders_idempotency_key(localstripe, payment):
    """Stripe makes a refund repeated with the same key one refund (localstripe ignores
    keys: there the portal's claim on the order keeps it single)."""
    localstripe.pay(payment.gateway_reference)
    keys = []

    class Recording(stripe.RequestsClient):
        def request(self, method, url, headers, post_data=None):
            if method == "post" and url.endswith("/v1/refunds"):
                keys.append(headers.get("Idempotency-Key"))
            return super().request(method, url, headers, post_data)

    client = stripe.StripeClient(SECRET_KEY, base_addresses={"api": localstripe.url},
                                 http_client=Recording())
    with mock.patch("billing.gateways.stripe.stripe_client", return_value=client):
        stripe_gateway().charge_refund(reference=payment.gateway_reference, amount_minor=800,
                                       idempotency_key=services.order_refund_key(payment.order))
    assert keys == [f"esim-portal-order-{payment.order.pk}-refund"]


# --- Errors: can a retry help? ---------------------------------------------------------

@pytest.mark.parametrize("error, retryable", [
    (stripe.RateLimitError("slow down", http_status=429), True),
    (stripe.APIConnectionError("timed out"), True),
    (stripe.APIError("oops", http_status=500), True),
    (stripe.APIError("busy", http_status=503), True),
    (stripe.InvalidRequestError("no such payment_intent", "id", http_status=404), False),
    (stripe.AuthenticationError("bad key", http_status=401), False),
    (stripe.PermissionError("not allowed", http_status=403), False),
])
def test_stripe_errors_say_whether_a_retry_can_help(localstripe, error, retryable):
    with mock.patch.object(stripe.PaymentIntentService, "retrieve", side_effect=error), \
            pytest.raises(GatewayError) as raised:
        stripe_gateway().charge_retrieve(reference="pi_1")
    assert raised.value.retryable is retryable
    assert isinstance(raised.value, GatewayRetryableError) is retryable


def test_a_charge_stripe_does_not_know_is_not_retryable(localstripe):
    with pytest.raises(GatewayError) as raised:
        stripe_gateway().charge_retrieve(reference="pi_unknown")
    assert not raised.value.retryable


def test_an_unreachable_stripe_is_retryable(localstripe, settings, order):
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"
    payment = off_session_payment(order)
    with pytest.raises(GatewayRetryableError):
        stripe_gateway().charge_off_session(payment=payment, card_reference="pm_1",
                                            description="renewal")


def test_removing_a_card_stripe_has_already_detached_is_fine(localstripe):
    already = stripe.InvalidRequestError(
        "The payment method you provided is not attached to a customer so detachment is "
        "impossible.", param=None, http_status=400)
    with mock.patch.object(stripe.PaymentMethodService, "detach", side_effect=already):
        stripe_gateway().card_remove(reference="pm_gone")  # no error
    other = stripe.InvalidRequestError("No such PaymentMethod: 'pm_x'", param=None,
                                       http_status=404)
    with mock.patch.object(stripe.PaymentMethodService, "detach", side_effect=other), \
            pytest.raises(GatewayError):
        stripe_gateway().card_remove(reference="pm_x")
