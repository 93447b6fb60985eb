from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from carrier.client import CarrierError
from esims import selectors as esim_selectors
from esims.models import ESim
from plans.selectors import CatalogueFilter, plan_get_for_sale, plan_list
from plans.views import chosen_currency
from portal.formatting import money
from portal.redirects import safe_next

from . import selectors, services
from .forms import (
    NewEsimOrderForm,
    PlanOrderForm,
    SimulatedAuthenticationForm,
    SimulatedCardForm,
    SimulatedOutcomeForm,
)
from .gateways import GatewayError, GatewayUnavailable
from .gateways.simulated import simulated_card_save, simulated_charge_decide
from .models import Order, Payment, PaymentMethod, SimulatedCharge
from .receipt_pdf import credit_note_pdf, receipt_pdf


@login_required
@require_http_methods(["GET", "POST"])
def buy(request, plan_code):
    currency = chosen_currency(request)
    plan = plan_get_for_sale(code=plan_code, currency=currency)
    form = NewEsimOrderForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        order = services.order_create_new_esim(
            customer=request.user, plan=plan, currency=currency,
            amount_minor=plan.price_minor, nickname=form.cleaned_data["nickname"],
            idempotency_key=str(form.cleaned_data["idempotency_key"]))
        return redirect("billing:pay", number=order.number)
    return render(request, "billing/buy.html", {"plan": plan, "currency": currency,
                                                "form": form})


@login_required
@require_http_methods(["GET", "POST"])
def renew(request, esim_pk):
    """Add a plan to one of the customer's eSIMs: the same plan or another, with the
    exact period it will run shown before paying."""
    esim = esim_selectors.esim_get_for_owner(owner=request.user, pk=esim_pk)
    currency = chosen_currency(request)
    plans = list(plan_list(currency=currency, filters=CatalogueFilter()))
    if not esim.can_renew or not plans:
        messages.info(request, _("This eSIM cannot take a new plan right now."))
        return redirect("esims:dashboard")
    plan = _chosen_plan(request, plans,
                        default=esim_selectors.esim_last_plan_code(esim=esim))
    period = esim_selectors.renewal_period(esim=esim, validity_days=plan.validity_days,
                                           now=timezone.now())
    return _plan_order(request, esim=esim, plans=plans, plan=plan, currency=currency,
                       create=services.order_create_renewal, template="billing/renew.html",
                       context={"period": period})


@login_required
@require_http_methods(["GET", "POST"])
def topup(request, esim_pk):
    """Add data to the eSIM's running plan; its end date does not change."""
    esim = esim_selectors.esim_get_for_owner(owner=request.user, pk=esim_pk)
    currency = chosen_currency(request)
    target = esim_selectors.esim_topup_target(esim=esim)
    topups = selectors.topup_plans(currency=currency)
    if target is None or not topups:
        messages.info(request, _("A top-up adds data to a running plan, and this eSIM has "
                                 "none. Renew it instead."))
        return redirect("esims:dashboard")
    plan = _chosen_plan(request, topups, default=None)
    return _plan_order(request, esim=esim, plans=topups, plan=plan, currency=currency,
                       create=services.order_create_topup, template="billing/topup.html",
                       context={"bundle": target})


def _chosen_plan(request, plans, *, default):
    """The plan asked for (404 if it is not among those offered), else the default, else
    the first offered."""
    wanted = request.POST.get("plan") or request.GET.get("plan")
    if wanted is not None:
        plan = next((p for p in plans if p.code == wanted), None)
        if plan is None:
            raise Http404("No such plan on sale.")
        return plan
    return next((p for p in plans if p.code == default), plans[0])


def _plan_order(request, *, esim, plans, plan, currency, create, template, context):
    """Show a plan for an existing eSIM; on a valid POST, order it and go to payment."""
    form = PlanOrderForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            order = create(customer=request.user, esim=esim, plan=plan, currency=currency,
                           amount_minor=plan.price_minor,
                           idempotency_key=str(form.cleaned_data["idempotency_key"]))
        except services.OrderError as exc:
            messages.error(request, str(exc))
            return redirect("esims:dashboard")
        return redirect("billing:pay", number=order.number)
    return render(request, template, {
        "esim": esim, "plans": plans, "plan": plan, "currency": currency,
        "form": PlanOrderForm(initial={"plan": plan.code}), **context})


@login_required
def receipt_list(request):
    receipts = selectors.receipt_list_for_customer(customer=request.user)
    return render(request, "billing/receipt_list.html", {"receipts": receipts})


@login_required
def receipt_download(request, number):
    """The receipt as a PDF in the customer's language; another customer's is a 404."""
    receipt = selectors.receipt_get_for_customer(customer=request.user, number=number)
    return _pdf(receipt_pdf(receipt, time_zone=request.user.time_zone), receipt.number)


@login_required
def credit_note_download(request, number):
    note = selectors.credit_note_get_for_customer(customer=request.user, number=number)
    return _pdf(credit_note_pdf(note, time_zone=request.user.time_zone), note.number)


def _pdf(content: bytes, number: str) -> HttpResponse:
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{number}.pdf"'
    return response


@login_required
def order_list(request):
    orders = selectors.order_list_for_customer(customer=request.user)
    return render(request, "billing/order_list.html", {"orders": orders})


@login_required
def order_detail(request, number):
    order = selectors.order_get_for_customer(customer=request.user, number=number)
    return render(request, "billing/order_detail.html", {
        **_order_context(order),
        "can_cancel": selectors.order_self_refund_refusal(order, now=timezone.now()) is None,
        "credit_note": selectors.order_credit_note(order=order)})


@login_required
def order_progress(request, number):
    """The live part of the order page, polled by the browser until it settles."""
    order = selectors.order_get_for_customer(customer=request.user, number=number)
    return render(request, "billing/_order_progress.html", _order_context(order))


def _order_context(order):
    return {"order": order, "steps": selectors.order_steps(order),
            "settled": selectors.order_is_settled(order),
            "slow": selectors.order_is_slow(order)}


@login_required
@require_http_methods(["GET", "POST"])
def order_cancel(request, number):
    """Cancel an unused new eSIM and get the money back: a page that says what it
    means, then the POST that does it (`services.order_self_refund`)."""
    order = selectors.order_get_for_customer(customer=request.user, number=number)
    if request.method == "POST":
        try:
            order = services.order_self_refund(order_id=order.pk, customer=request.user)
        except services.OrderError as exc:
            messages.error(request, str(exc))
        except (CarrierError, GatewayError):
            order = selectors.order_get_for_customer(customer=request.user, number=number)
            if order.esim is not None and order.esim.state == ESim.State.CANCELLED:
                messages.error(request, _(
                    "Your eSIM is cancelled, but the payment provider has not confirmed the "
                    "refund yet. Our support team has been told and will make sure you get "
                    "the money back; you can also try again in a few minutes."))
            else:
                messages.error(request, _("We could not reach the carrier or the payment "
                                          "provider. Nothing was changed; try again in a "
                                          "few minutes."))
        else:
            if order.status == Order.Status.REFUNDED:
                messages.success(request, _(
                    "Your eSIM is cancelled and %(amount)s is on its way back to the payment "
                    "method you paid with.") % {"amount": money(order.amount_minor,
                                                                order.currency)})
        return redirect("billing:order", number=order.number)
    refusal = selectors.order_self_refund_refusal(order, now=timezone.now())
    if order.status == Order.Status.REFUNDED:
        return redirect("billing:order", number=order.number)
    return render(request, "billing/order_cancel.html", {
        "order": order, "refusal": refusal,
        "deadline": selectors.order_self_refund_deadline(order)})


@login_required
@require_http_methods(["GET", "POST"])
def pay(request, number):
    order = selectors.order_get_for_customer(customer=request.user, number=number)
    if order.status != Order.Status.PENDING_PAYMENT:
        return redirect("billing:order", number=order.number)
    if request.method == "POST":
        try:
            payment = services.payment_start(order=order, return_url_for=lambda p: reverse(
                "billing:payment_return", args=[order.number, p.pk]))
        except services.OrderError as exc:
            messages.info(request, str(exc))
            return redirect("billing:order", number=order.number)
        except GatewayUnavailable:
            messages.error(request, _("Payments are not set up on this portal yet. "
                                      "Nothing was charged."))
            return redirect("billing:pay", number=order.number)
        except GatewayError:
            messages.error(request, _("The payment provider could not be reached. Nothing "
                                      "was charged; try again in a moment."))
            return redirect("billing:pay", number=order.number)
        return HttpResponseRedirect(services.payment_customer_url(payment=payment))
    period = None
    if order.kind == Order.Kind.RENEWAL:
        assert order.esim is not None  # a renewal is ordered for an eSIM
        period = esim_selectors.renewal_period(esim=order.esim,
                                               validity_days=order.plan.validity_days,
                                               now=timezone.now())
    return render(request, "billing/pay.html", {
        "order": order, "period": period,
        "awaiting_confirmation":
            selectors.order_payment_awaiting_confirmation(order=order) is not None,
        "failed_payment": selectors.order_last_failed_payment(order=order)})


@login_required
def payment_return(request, number, payment_id):
    """Where the gateway sends the customer back. We ask the gateway, never the URL."""
    order = selectors.order_get_for_customer(customer=request.user, number=number)
    payment = selectors.payment_get_for_order(order=order, pk=payment_id)
    payment = services.payment_sync(payment_id=payment.pk)
    if payment.status == Payment.Status.FAILED:
        return redirect("billing:pay", number=order.number)  # it shows why, and a retry
    if payment.status in Payment.OPEN_STATUSES:
        return HttpResponseRedirect(services.payment_customer_url(payment=payment))
    return redirect("billing:order", number=order.number)


# Where to go back to after saving a card, per setup, kept in the session.
_CARD_NEXT_SESSION_KEY = "card-setup-next"


def _safe_next(request, default: str) -> str:
    return safe_next(request, request.POST.get("next") or request.GET.get("next"), default)


@login_required
@require_http_methods(["POST"])
def card_add(request):
    """Save a card for auto-renewal: the gateway's page takes the card details."""
    back = _safe_next(request, reverse("esims:dashboard"))
    try:
        method = services.card_setup_start(customer=request.user, cancel_url=back)
    except GatewayUnavailable:
        messages.error(request, _("Payments are not set up on this portal yet."))
        return HttpResponseRedirect(back)
    except GatewayError:
        messages.error(request, _("The payment provider could not be reached. Nothing was "
                                  "saved; try again in a moment."))
        return HttpResponseRedirect(back)
    request.session.setdefault(_CARD_NEXT_SESSION_KEY, {})[method.setup_reference] = back
    request.session.modified = True
    return HttpResponseRedirect(services.card_setup_customer_url(payment_method=method))


@login_required
@require_http_methods(["POST"])
def card_remove(request, pk):
    """Remove one of the customer's saved cards; another customer's is a 404."""
    method = selectors.card_get_for_customer(customer=request.user, pk=pk)
    back = _safe_next(request, reverse("esims:dashboard"))
    try:
        method = services.card_remove(payment_method_id=method.pk)
    except services.OrderError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Card removed: %(card)s.") % {"card": method})
    return HttpResponseRedirect(back)


@login_required
def card_setup_return(request, reference):
    """Where the gateway sends the customer after entering a card; we ask the gateway."""
    method = selectors.card_get_for_setup(customer=request.user, reference=reference)
    back = request.session.get(_CARD_NEXT_SESSION_KEY, {}).get(reference,
                                                              reverse("esims:dashboard"))
    try:
        method = services.card_setup_finish(payment_method_id=method.pk)
    except GatewayError:
        messages.error(request, _("The payment provider could not be reached. Try again in a "
                                  "moment."))
        return HttpResponseRedirect(back)
    if method.status == PaymentMethod.Status.ACTIVE:
        messages.success(request, _("Card saved: %(card)s.") % {"card": method})
    elif method.status == PaymentMethod.Status.FAILED:
        messages.error(request, _("The card could not be saved. Try another card."))
    else:
        messages.info(request, _("Saving the card was not finished. Nothing was saved."))
    return HttpResponseRedirect(back)


# --- The simulated gateway's own pages (what Stripe's hosted pages would be) ---

@require_http_methods(["GET", "POST"])
def simulated_gateway(request, reference):
    charge = selectors.simulated_charge_get(reference=reference)
    if charge.status == SimulatedCharge.Status.REQUIRES_ACTION:
        return redirect("billing:simulated_authenticate", reference=reference)
    if charge.status != SimulatedCharge.Status.PENDING:
        return HttpResponseRedirect(charge.return_url)
    form = SimulatedOutcomeForm(request.POST or None, initial={"outcome": "success"})
    if request.method == "POST" and form.is_valid():
        charge = simulated_charge_decide(reference=reference,
                                         outcome=form.cleaned_data["outcome"])
        if charge.status == SimulatedCharge.Status.REQUIRES_ACTION:
            return redirect("billing:simulated_authenticate", reference=reference)
        return HttpResponseRedirect(charge.return_url)
    return render(request, "billing/simulated_gateway.html", {"charge": charge, "form": form})


@login_required
@require_http_methods(["GET", "POST"])
def simulated_card(request, reference):
    """The fake bank's "enter your card" page: the tester picks how the card behaves when
    charged later without them."""
    card = selectors.simulated_card_get_for_customer(customer=request.user,
                                                     reference=reference)
    done = reverse("billing:card_setup_return", args=[reference])
    if card.saved:
        return HttpResponseRedirect(done)
    form = SimulatedCardForm(request.POST or None, initial={"behaviour": "success"})
    if request.method == "POST" and form.is_valid():
        simulated_card_save(reference=reference, behaviour=form.cleaned_data["behaviour"])
        return HttpResponseRedirect(done)
    return render(request, "billing/simulated_card.html",
                  {"card": card, "form": form, "cancel_url": card.return_url})


@require_http_methods(["GET", "POST"])
def simulated_authenticate(request, reference):
    charge = selectors.simulated_charge_get(reference=reference)
    if charge.status != SimulatedCharge.Status.REQUIRES_ACTION:
        return HttpResponseRedirect(charge.return_url)
    form = SimulatedAuthenticationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        charge = simulated_charge_decide(reference=reference,
                                         outcome=form.cleaned_data["outcome"])
        return HttpResponseRedirect(charge.return_url)
    return render(request, "billing/simulated_authenticate.html",
                  {"charge": charge, "form": form})


