from django.conf import settings
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.services import customer_set_currency
from portal.redirects import safe_next

from . import selectors
from .forms import CatalogueFilterForm, CurrencyChoiceForm

CURRENCY_SESSION_KEY = "currency"


def chosen_currency(request) -> str:
    """The currency prices are shown in: a ?currency= in the link (for this page only:
    a link from another site must not change the account), else the account's or the
    session's (saved by set_currency), else the operator's default."""
    wanted = (request.GET.get("currency") or "").upper()
    if wanted in settings.PORTAL_CURRENCIES:
        return wanted
    if request.user.is_authenticated and request.user.currency in settings.PORTAL_CURRENCIES:
        return request.user.currency
    session_currency = request.session.get(CURRENCY_SESSION_KEY)
    if session_currency in settings.PORTAL_CURRENCIES:
        return session_currency
    return settings.PORTAL_DEFAULT_CURRENCY


def _this_page_without_currency(request) -> str:
    # Where the currency switch comes back to: a ?currency= left in it would win over
    # the currency just chosen.
    query = request.GET.copy()
    query.pop("currency", None)
    return f"{request.path}?{query.urlencode()}" if query else request.path


@require_POST
def set_currency(request):
    """Save the currency prices are shown in: on the account when signed in, else in the
    session; then back to the page the switch was on."""
    form = CurrencyChoiceForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest(_("Choose one of the currencies offered."),
                                      content_type="text/plain; charset=utf-8")
    currency = form.cleaned_data["currency"]
    if request.user.is_authenticated:
        customer_set_currency(user=request.user, currency=currency)
    else:
        request.session[CURRENCY_SESSION_KEY] = currency
    return redirect(safe_next(request, form.cleaned_data["next"], reverse("plans:catalogue")))


def catalogue(request):
    currency = chosen_currency(request)
    form = CatalogueFilterForm(request.GET or None)
    filters = selectors.CatalogueFilter()
    if form.is_valid():
        filters = selectors.CatalogueFilter(place=form.cleaned_data["place"],
                                            validity_kind=form.cleaned_data["validity"],
                                            data=form.cleaned_data["data"])
    plans = list(selectors.plan_list(currency=currency, filters=filters))
    return render(request, "plans/catalogue.html", {
        "form": form, "plans": plans, "currency": currency, "filters": filters,
        "places": selectors.place_suggestions(),
        "currency_next": _this_page_without_currency(request),
    })


def plan_detail(request, code):
    currency = chosen_currency(request)
    plan = selectors.plan_get_for_sale(code=code, currency=currency)
    return render(request, "plans/plan_detail.html", {"plan": plan, "currency": currency})
