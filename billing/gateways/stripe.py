"""Stripe behind the portal's gateway interface.

A Stripe Customer per user; a PaymentIntent per Payment, confirmed by Stripe.js on the
portal's own page (billing/stripe_views.py); SetupIntents to save cards; off-session
PaymentIntents to charge them for auto-renewal. Every call that may move money carries
the Payment's idempotency key, so Stripe answers a call repeated after a timeout with
the first call's result. (localstripe, the fake Stripe the tests run against, ignores
the keys: there the portal's own rows keep a charge single.)
"""

import logging
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol, cast

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from stripe.params import PaymentIntentCreateParams, SetupIntentCreateParams

from billing.models import GatewayCustomer

from . import (
    ChargeStatus,
    Gateway,
    GatewayCharge,
    GatewayError,
    GatewayRetryableError,
    SavedCard,
    _OutsideTransactions,
)

log = logging.getLogger(__name__)

NAME = "stripe"

# Stripe's decline_code or code, in the portal's words (FAILURE_EXPLANATIONS). Any other
# card decline is "card_declined"; any other failure keeps Stripe's own code.
_FAILURE_CODES = {
    "insufficient_funds": "insufficient_funds",
    "expired_card": "expired_card",
    "payment_intent_authentication_failure": "authentication_failed",
    "setup_intent_authentication_failure": "authentication_failed",
}
# The bank wants the customer to authenticate an off-session charge (3-D Secure).
_AUTHENTICATION_REQUIRED = "authentication_required"

# Currencies Stripe lists for each wallet; a wallet is left out of a payment in another
# currency instead of making Stripe refuse the whole PaymentIntent. (What an account may
# take also depends on its country: Stripe still has the last word.)
_METHOD_CURRENCIES = {
    "alipay": {"aud", "cad", "cny", "eur", "gbp", "hkd", "jpy", "myr", "nzd", "sgd", "usd"},
    "wechat_pay": {"aud", "cad", "chf", "cny", "dkk", "eur", "gbp", "hkd", "jpy", "nok",
                   "sek", "sgd", "usd"},
    "paypal": {"aud", "cad", "chf", "czk", "dkk", "eur", "gbp", "hkd", "huf", "nok", "nzd",
               "pln", "sek", "sgd", "usd"},
}


# Seconds to wait for Stripe (its library waits 80): a payment page or a renewal run
# waiting longer is better off retrying later with the same idempotency key.
TIMEOUT_SECONDS = 30


@lru_cache(maxsize=4)
def _client(api_key: str, api_base: str) -> stripe.StripeClient:
    return stripe.StripeClient(api_key, base_addresses={"api": api_base} if api_base else None,
                               max_network_retries=2,
                               http_client=stripe.RequestsClient(timeout=TIMEOUT_SECONDS))


def stripe_client() -> stripe.StripeClient:
    """A client configured from settings (a test may point it at localstripe)."""
    return _client(settings.STRIPE_SECRET_KEY, settings.STRIPE_API_BASE)


@contextmanager
def _stripe_errors(action: str):
    """Stripe's exceptions as the portal's, saying whether the same call (with the same
    idempotency key) may succeed later. Card declines are the caller's business."""
    try:
        yield
    except (stripe.RateLimitError, stripe.APIConnectionError) as exc:
        _log_error(action, exc)
        raise GatewayRetryableError(f"Stripe could not {action}: {_describe(exc)}") from exc
    except stripe.APIError as exc:
        _log_error(action, exc)
        # 5xx: Stripe's trouble; 409: a concurrent request on the same object.
        retryable = exc.http_status is None or exc.http_status >= 500 or exc.http_status == 409
        error_class = GatewayRetryableError if retryable else GatewayError
        raise error_class(f"Stripe could not {action}: {_describe(exc)}") from exc
    except stripe.StripeError as exc:  # invalid request, authentication, permission...
        _log_error(action, exc)
        raise GatewayError(f"Stripe could not {action}: {_describe(exc)}") from exc


def _describe(exc: stripe.StripeError) -> str:
    return exc.user_message or type(exc).__name__


def _log_error(action: str, exc: stripe.StripeError) -> None:
    log.warning("Stripe could not %s: %s %s (HTTP %s, request %s)", action,
                type(exc).__name__, exc.user_message, exc.http_status, exc.request_id)


def _field(obj, name: str):
    """A field of a Stripe object or of a plain dict (error bodies), None when absent."""
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def _id(obj) -> str:
    """An expandable field's id, whether Stripe sent the id or the whole object."""
    if obj is None or isinstance(obj, str):
        return obj or ""
    return _field(obj, "id") or ""


def portal_failure_code(*, code: str | None, decline_code: str | None) -> str:
    for candidate in (decline_code, code):
        if candidate in _FAILURE_CODES:
            return _FAILURE_CODES[candidate]
    if decline_code or code == "card_declined":
        return "card_declined"
    return code or "declined"


def _needs_authentication(error) -> bool:
    return _AUTHENTICATION_REQUIRED in (_field(error, "code"), _field(error, "decline_code"))


def _client_secret(intent: stripe.PaymentIntent | stripe.SetupIntent) -> str:
    """What Stripe.js needs to confirm the intent: Stripe sends it to a secret key."""
    if intent.client_secret is None:
        raise GatewayError(f"Stripe sent {intent.id} without its client secret")
    return intent.client_secret


def charge_from_intent(intent) -> GatewayCharge:
    """A PaymentIntent's state in the portal's terms."""
    status, error = intent.status, _field(intent, "last_payment_error")
    if status == "succeeded":
        return GatewayCharge(reference=intent.id, status=ChargeStatus.SUCCEEDED)
    if status == "requires_action":
        return GatewayCharge(reference=intent.id, status=ChargeStatus.REQUIRES_ACTION)
    if status == "canceled":
        return GatewayCharge(reference=intent.id, status=ChargeStatus.FAILED,
                             failure_code="canceled",
                             failure_message=_field(intent, "cancellation_reason") or "")
    if status == "requires_payment_method" and error:
        if _needs_authentication(error):
            # An off-session charge the bank wants authenticated (real Stripe's shape):
            # the customer can still do it on the payment page.
            return GatewayCharge(reference=intent.id, status=ChargeStatus.REQUIRES_ACTION)
        return GatewayCharge(
            reference=intent.id, status=ChargeStatus.FAILED,
            failure_code=portal_failure_code(code=_field(error, "code"),
                                             decline_code=_field(error, "decline_code")),
            failure_message=_field(error, "message") or "")
    return GatewayCharge(reference=intent.id, status=ChargeStatus.PENDING)


# The intents are created with `payment_method_types`, which localstripe (the tests'
# Stripe) takes; the installed library's typed params (its API version 2026-10-28.endive)
# have only `allowed_payment_method_types`, so those params are cast where they are built.
def _methods_for(currency: str) -> list[str]:
    currency = currency.lower()
    methods = [m for m in settings.STRIPE_PAYMENT_METHODS
               if currency in _METHOD_CURRENCIES.get(m, {currency})]
    if not methods:
        raise GatewayError(f"none of STRIPE_PAYMENT_METHODS takes {currency.upper()}")
    return methods


def _metadata(payment, description: str) -> dict:
    # localstripe refuses `description`; metadata shows in Stripe's dashboard all the same.
    return {"portal_payment": str(payment.pk), "order": payment.order.number,
            "description": description[:500]}


@dataclass(frozen=True)
class IntentForPage:
    """What the portal's payment page needs of a PaymentIntent. `step`: "pay" (enter a
    card or pick a method), "authenticate" (the bank's challenge for a card already
    given), "processing", or "settled" (succeeded or failed: the portal's return page
    says which)."""

    client_secret: str
    step: str
    payment_method: str
    methods: tuple[str, ...]


@dataclass(frozen=True)
class SetupForPage:
    client_secret: str
    finished: bool
    cancel_url: str


class StripeGateway:
    name = NAME

    # --- Customers ---

    def customer_reference(self, customer) -> str:
        """The user's Stripe Customer, made on first need and kept in GatewayCustomer."""
        found = (GatewayCustomer.objects.filter(customer=customer, gateway=NAME)
                 .values_list("reference", flat=True).first())
        if found:
            return found
        with _stripe_errors("create a customer"):
            created = stripe_client().v1.customers.create(
                params={"email": customer.email, "metadata": {"portal_user": str(customer.pk)}},
                options={"idempotency_key": f"esim-portal-customer-{customer.pk}"})
        try:
            with transaction.atomic():
                GatewayCustomer.objects.create(customer=customer, gateway=NAME,
                                               reference=created.id)
        except IntegrityError:
            # Another request made one at the same moment (real Stripe gave it the same
            # Customer, by the idempotency key): use the one stored.
            return GatewayCustomer.objects.get(customer=customer, gateway=NAME).reference
        return created.id

    # --- Payments with the customer present ---

    def charge_start(self, *, payment, description: str, return_url: str) -> GatewayCharge:
        with _stripe_errors("start a payment"):
            intent = stripe_client().v1.payment_intents.create(
                params=cast(PaymentIntentCreateParams, {  # why a cast: see _methods_for
                    "amount": payment.amount_minor, "currency": payment.currency.lower(),
                    "customer": self.customer_reference(payment.order.customer),
                    "payment_method_types": _methods_for(payment.currency),
                    "metadata": _metadata(payment, description)}),
                options={"idempotency_key": payment.idempotency_key})
        return charge_from_intent(intent)

    def charge_customer_url(self, *, reference: str) -> str:
        return reverse("billing:stripe_pay", args=[reference])

    def charge_retrieve(self, *, reference: str) -> GatewayCharge:
        with _stripe_errors("look up a payment"):
            intent = stripe_client().v1.payment_intents.retrieve(reference)
        return charge_from_intent(intent)

    def charge_refund(self, *, reference: str, amount_minor: int, idempotency_key: str) -> str:
        client = stripe_client()
        with _stripe_errors("refund a payment"):
            # A refund already made (by an earlier try, or in the dashboard) is the refund.
            for refund in client.v1.refunds.list(
                    params={"payment_intent": reference, "limit": 100}).data:
                if refund.status in ("succeeded", "pending", "requires_action"):
                    return refund.id
            # Two calls racing past the list (one after a crash, say) are the same refund
            # at Stripe by the key; localstripe ignores it, so the portal's own claim on
            # the order (`order_refund`) keeps them from racing there.
            refund = client.v1.refunds.create(
                params={"payment_intent": reference, "amount": amount_minor},
                options={"idempotency_key": idempotency_key})
        return refund.id

    def intent_for_page(self, *, reference: str) -> IntentForPage:
        with _stripe_errors("look up a payment"):
            intent = stripe_client().v1.payment_intents.retrieve(reference)
        charge = charge_from_intent(intent)
        methods = tuple(_field(intent, "payment_method_types")
                        or _methods_for(intent.currency))
        if charge.status in ("succeeded", "failed"):
            step, method = "settled", ""
        elif intent.status == "requires_action":
            step, method = "authenticate", _id(_field(intent, "payment_method"))
        elif charge.status == "requires_action":  # authentication_required, off-session
            step = "authenticate"
            method = _id(_field(_field(intent, "last_payment_error"), "payment_method"))
        elif intent.status == "processing":
            step, method = "processing", ""
        else:
            step, method = "pay", ""
        return IntentForPage(client_secret=_client_secret(intent), step=step,
                             payment_method=method, methods=methods)

    # --- Saved cards and charges without the customer (auto-renewal) ---

    def card_setup_start(self, *, customer, return_url: str) -> str:
        with _stripe_errors("start saving a card"):
            intent = stripe_client().v1.setup_intents.create(params=cast(
                SetupIntentCreateParams, {  # why a cast: see _methods_for
                    "customer": self.customer_reference(customer), "usage": "off_session",
                    "payment_method_types": ["card"],
                    "metadata": {"portal_user": str(customer.pk),
                                 "cancel_url": return_url[:500]}}))
        return intent.id

    def card_setup_customer_url(self, *, reference: str) -> str:
        return reverse("billing:stripe_card_setup", args=[reference])

    def card_setup_retrieve(self, *, reference: str) -> SavedCard | None:
        with _stripe_errors("look up a saved card"):
            intent = stripe_client().v1.setup_intents.retrieve(
                reference, params={"expand": ["payment_method"]})
        error = _field(intent, "last_setup_error")
        if intent.status == "succeeded":
            method = intent.payment_method  # expanded: the PaymentMethod itself
            if not isinstance(method, stripe.PaymentMethod) or method.card is None:
                raise GatewayError(f"Stripe saved no card for {reference}")
            card = method.card
            return SavedCard(reference=method.id, brand=card.brand, last4=card.last4,
                             exp_month=card.exp_month, exp_year=card.exp_year)
        if intent.status == "canceled" or (intent.status == "requires_payment_method"
                                           and error):
            raise GatewayError(f"card not saved ({intent.status}): "
                               f"{_field(error, 'message') or 'canceled'}")
        return None

    def card_remove(self, *, reference: str) -> None:
        with _stripe_errors("remove a saved card"):
            try:
                stripe_client().v1.payment_methods.detach(reference)
            except stripe.InvalidRequestError as exc:
                if "not attached" not in str(exc).lower():
                    raise
                # Detached before (a repeat, or in Stripe's dashboard): nothing to do.

    def setup_for_page(self, *, reference: str) -> SetupForPage:
        with _stripe_errors("look up a saved card"):
            intent = stripe_client().v1.setup_intents.retrieve(reference)
        finished = intent.status in ("succeeded", "canceled") or bool(
            intent.status == "requires_payment_method" and _field(intent, "last_setup_error"))
        metadata = _field(intent, "metadata")
        return SetupForPage(client_secret=_client_secret(intent), finished=finished,
                            cancel_url=_field(metadata, "cancel_url") or "")

    def charge_off_session(self, *, payment, card_reference: str,
                           description: str) -> GatewayCharge:
        client = stripe_client()
        with _stripe_errors("charge a saved card"):
            if payment.gateway_reference:
                # An earlier call for this payment reached Stripe: never a second charge.
                return charge_from_intent(
                    client.v1.payment_intents.retrieve(payment.gateway_reference))
            try:
                intent = client.v1.payment_intents.create(
                    params=cast(PaymentIntentCreateParams, {  # why a cast: see _methods_for
                        "amount": payment.amount_minor, "currency": payment.currency.lower(),
                        "customer": self.customer_reference(payment.order.customer),
                        "payment_method": card_reference, "payment_method_types": ["card"],
                        "off_session": True, "confirm": True,
                        "metadata": _metadata(payment, description)}),
                    options={"idempotency_key": payment.idempotency_key})
            except stripe.CardError as exc:
                return self._off_session_declined(client, exc)
        return charge_from_intent(intent)

    def _off_session_declined(self, client, exc: stripe.CardError) -> GatewayCharge:
        """Real Stripe answers a charge the bank wants authenticated, or declines, with a
        CardError carrying the PaymentIntent; localstripe's error carries only the charge."""
        body = exc.json_body if isinstance(exc.json_body, dict) else {}  # None: no body
        error = body.get("error") or {}
        reference = _id(error.get("payment_intent"))
        if not reference and error.get("charge"):
            reference = _id(client.v1.charges.retrieve(error["charge"]).payment_intent)
        log.info("Stripe declined an off-session charge %s: %s/%s (request %s)", reference,
                 error.get("code"), error.get("decline_code"), exc.request_id)
        if _needs_authentication(error) and reference:
            return GatewayCharge(reference=reference, status=ChargeStatus.REQUIRES_ACTION)
        code = portal_failure_code(code=error.get("code"), decline_code=error.get("decline_code"))
        if _needs_authentication(error):  # no PaymentIntent to authenticate
            code = "authentication_failed"
        return GatewayCharge(reference=reference, status=ChargeStatus.FAILED, failure_code=code,
                             failure_message=error.get("message") or exc.user_message or "")


class StripePages(Gateway, Protocol):
    """The Stripe gateway as its own pages (billing/stripe_views.py) use it: the portal's
    interface, and what Stripe.js needs of an intent."""

    def intent_for_page(self, *, reference: str) -> IntentForPage: ...

    def setup_for_page(self, *, reference: str) -> SetupForPage: ...


def stripe_gateway() -> StripePages:
    """`get_gateway(NAME)`, typed with the Stripe-only calls: every call checks that no
    database transaction is open, as get_gateway's do."""
    gateway: StripePages = StripeGateway()  # the wrapper's calls are typed by the gateway's
    return _OutsideTransactions(gateway)
