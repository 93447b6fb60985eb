"""Stripe's part of the portal: the payment and card pages (Stripe.js collects the card,
so card details never reach the portal) and the webhook Stripe calls."""

import logging

import stripe
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from portal.jsonbody import BadRequestBody, json_object_from_body

from . import selectors
from .gateway_events import gateway_event_record
from .gateway_schemas import StripeEvent, ValidationError, first_error
from .gateways import GatewayError
from .gateways.stripe import NAME, stripe_gateway
from .models import Order, Payment, PaymentMethod

log = logging.getLogger(__name__)

# Labels of the methods other than a card, as their buttons say them.
WALLET_LABELS = {"alipay": "Alipay", "wechat_pay": "WeChat Pay", "paypal": "PayPal"}


def _stripe_page_context() -> dict:
    return {"stripe_js_url": settings.STRIPE_JS_URL,
            "stripe_publishable_key": settings.STRIPE_PUBLISHABLE_KEY}


def _unreachable(request, number: str):
    messages.error(request, _("The payment provider could not be reached. Nothing was "
                              "charged; try again in a moment."))
    return redirect("billing:pay", number=number)


@login_required
@require_GET
def stripe_pay(request, reference):
    """The customer pays (or authenticates a payment) with Stripe.js; afterwards the
    portal's return page asks Stripe what happened."""
    payment = selectors.payment_get_for_customer(customer=request.user, gateway=NAME,
                                                 reference=reference)
    order = payment.order
    if order.status != Order.Status.PENDING_PAYMENT:
        return redirect("billing:order", number=order.number)
    return_url = reverse("billing:payment_return", args=[order.number, payment.pk])
    if payment.status not in Payment.OPEN_STATUSES:
        return HttpResponseRedirect(return_url)  # it shows why, and a retry
    try:
        intent = stripe_gateway().intent_for_page(reference=reference)
    except GatewayError:
        return _unreachable(request, order.number)
    if intent.step == "settled":
        return HttpResponseRedirect(return_url)
    wallets = [{"code": m, "label": WALLET_LABELS[m]} for m in intent.methods
               if m in WALLET_LABELS]
    return render(request, "billing/stripe_pay.html", {
        **_stripe_page_context(), "order": order, "payment": payment, "intent": intent,
        "card": "card" in intent.methods, "wallets": wallets, "return_url": return_url,
        "absolute_return_url": request.build_absolute_uri(return_url)})


@login_required
@require_GET
def stripe_card_setup(request, reference):
    """The customer enters a card to save with Stripe.js; afterwards the portal's return
    page asks Stripe whether it was saved."""
    method = selectors.card_get_for_setup(customer=request.user, reference=reference,
                                          gateway=NAME)
    done_url = reverse("billing:card_setup_return", args=[reference])
    if method.status != PaymentMethod.Status.PENDING:
        return HttpResponseRedirect(done_url)
    try:
        setup = stripe_gateway().setup_for_page(reference=reference)
    except GatewayError:
        messages.error(request, _("The payment provider could not be reached. Nothing was "
                                  "saved; try again in a moment."))
        return redirect("esims:dashboard")
    if setup.finished:
        return HttpResponseRedirect(done_url)
    return render(request, "billing/stripe_card_setup.html", {
        **_stripe_page_context(), "setup": setup, "done_url": done_url,
        "cancel_url": setup.cancel_url or reverse("esims:dashboard")})


# A real Stripe-Signature is a timestamp and a signature or two (while a secret is
# rolled): far below this.
MAX_SIGNATURE_HEADER = 1024


@csrf_exempt
@require_POST
def stripe_webhook(request):
    """Stripe's events, verified by their signature on the raw body before the body is
    read, checked in shape (billing/gateway_schemas.py), stored once by id and processed
    by a task after the commit; Stripe gets its answer at once."""
    signature = request.headers.get("Stripe-Signature", "")
    if not signature or not settings.STRIPE_WEBHOOK_SECRET:
        return HttpResponseBadRequest("missing signature")
    # The stripe library compares signatures with hmac.compare_digest, which raises
    # TypeError (a 500) on a str that is not ASCII.
    if not signature.isascii() or len(signature) > MAX_SIGNATURE_HEADER:
        return HttpResponseBadRequest("bad signature")
    try:
        stripe.WebhookSignature.verify_header(request.body, signature,
                                              settings.STRIPE_WEBHOOK_SECRET,
                                              stripe.Webhook.DEFAULT_TOLERANCE)
    except (stripe.SignatureVerificationError, ValueError):  # ValueError: not UTF-8
        log.warning("Stripe webhook with a bad signature refused")
        return HttpResponseBadRequest("bad signature")
    try:
        payload = json_object_from_body(request.body)
        event = StripeEvent.model_validate(payload)
    except BadRequestBody as exc:
        log.warning("signed Stripe webhook refused: %s", exc)
        return HttpResponseBadRequest("not an event")
    except ValidationError as exc:
        log.warning("signed Stripe webhook refused: %s", first_error(exc))
        return HttpResponseBadRequest("not an event")
    gateway_event_record(gateway=NAME, event_id=event.id, event_type=event.type,
                         payload=payload)
    return HttpResponse("ok", content_type="text/plain")
