from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from billing.gateways import GatewayUnavailable, get_gateway
from billing.models import Order, Payment
from esims import selectors as esim_selectors
from esims.models import Bundle

from . import services
from .forms import AutoRenewForm
from .selectors import renewal_plans, renewal_preview, saved_cards


def _gateway_name() -> str | None:
    try:
        return get_gateway().name
    except GatewayUnavailable:
        return None


@login_required
@require_http_methods(["GET", "POST"])
def settings_page(request, esim_pk):
    """Auto-renewal for one eSIM: whether it is on, what the next charge will be and
    when, the plan and card it uses; switching it on, changing it, switching it off."""
    esim = esim_selectors.esim_get_for_owner(owner=request.user, pk=esim_pk)
    gateway = _gateway_name()
    plans = renewal_plans(currency=request.user.currency)
    cards = saved_cards(customer=request.user, gateway=gateway or "")
    default_plan = esim.renewal_plan or plans.filter(
        code=esim_selectors.esim_last_plan_code(esim=esim)).first() or plans.first()
    form = AutoRenewForm(request.POST or None, plans=plans, cards=cards, initial={
        "plan": default_plan.code if default_plan else None,
        "card": esim.renewal_payment_method_id or cards.values_list("pk", flat=True).first()})
    if request.method == "POST" and form.is_valid():
        was_on = esim.auto_renew
        try:
            esim = services.auto_renew_switch_on(esim=esim, plan=form.cleaned_data["plan"],
                                                 card=form.cleaned_data["card"])
        except services.RenewalError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, _("Auto-renewal settings saved.") if was_on
                             else _("Auto-renewal is on."))
            return redirect("renewals:settings", esim_pk=esim.pk)
    esim.refresh_from_db()
    preview = renewal_preview(esim=esim, plan=None if esim.auto_renew else default_plan)
    return render(request, "renewals/settings.html", {
        "esim": esim, "form": form, "preview": preview, "gateway": gateway,
        "cards": cards, "has_cards": cards.exists(), "running": _running_bundle(esim),
        "attention": _payment_needing_attention(esim)})


def _running_bundle(esim):
    return esim.bundles.filter(state=Bundle.State.ACTIVE).first()


def _payment_needing_attention(esim) -> Payment | None:
    """The last attempt of an auto-renewal still unpaid, failed or waiting for the bank's
    confirmation by the customer, while the eSIM says so (as its dashboard card does)."""
    if not esim.renewal_attention:
        return None
    order = (Order.objects.filter(esim=esim, kind=Order.Kind.RENEWAL,
                                  status=Order.Status.PENDING_PAYMENT,
                                  idempotency_key__startswith="auto-renew:")
             .order_by("-created_at").first())
    if order is None:
        return None
    return (order.payments.filter(status__in=[Payment.Status.FAILED,
                                              Payment.Status.REQUIRES_ACTION])
            .select_related("order").order_by("-created_at", "-pk").first())


@login_required
@require_POST
def switch_off(request, esim_pk):
    esim = esim_selectors.esim_get_for_owner(owner=request.user, pk=esim_pk)
    if services.auto_renew_switch_off(esim=esim):
        messages.success(request, _("Auto-renewal is off. Nothing more will be charged for "
                                    "this eSIM."))
    return redirect("renewals:settings", esim_pk=esim.pk)
