from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from billing.selectors import cards_usable_for_renewal, payment_gateway_name
from esims import selectors as esim_selectors

from . import services
from .forms import AutoRenewForm
from .selectors import (
    renewal_payment_needing_attention,
    renewal_plan_offered_first,
    renewal_plans,
    renewal_preview,
)


@login_required
@require_http_methods(["GET", "POST"])
def settings_page(request, esim_pk):
    """Auto-renewal for one eSIM: whether it is on, what the next charge will be and
    when, the plan and card it uses; switching it on, changing it, switching it off."""
    esim = esim_selectors.esim_get_for_owner(owner=request.user, pk=esim_pk)
    gateway = payment_gateway_name()
    plans = renewal_plans(currency=request.user.currency)
    cards = cards_usable_for_renewal(customer=request.user, gateway=gateway)
    card_list = list(cards)
    default_plan = renewal_plan_offered_first(esim=esim, plans=plans)
    form = AutoRenewForm(request.POST or None, plans=plans, cards=cards, initial={
        "plan": default_plan.code if default_plan else None,
        "card": esim.renewal_payment_method_id or (card_list[0].pk if card_list else None)})
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
    preview = renewal_preview(esim=esim, plan=None if esim.auto_renew else default_plan)
    return render(request, "renewals/settings.html", {
        "esim": esim, "form": form, "preview": preview, "gateway": gateway,
        "cards": card_list, "has_cards": bool(card_list),
        "running": esim_selectors.esim_running_bundle(esim=esim),
        "attention": renewal_payment_needing_attention(esim=esim)})


@login_required
@require_POST
def switch_off(request, esim_pk):
    esim = esim_selectors.esim_get_for_owner(owner=request.user, pk=esim_pk)
    if services.auto_renew_switch_off(esim=esim):
        messages.success(request, _("Auto-renewal is off. Nothing more will be charged for "
                                    "this eSIM."))
    return redirect("renewals:settings", esim_pk=esim.pk)
