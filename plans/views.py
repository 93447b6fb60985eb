from django.conf import settings
from django.shortcuts import render

from accounts.services import customer_set_currency

from . import selectors
from .forms import CatalogueFilterForm

CURRENCY_SESSION_KEY = "currency"


def chosen_currency(request) -> str:
    """The currency prices are shown in: a ?currency= choice (remembered), else the
    account's or the session's, else the operator's default."""
    wanted = (request.GET.get("currency") or "").upper()
    if wanted in settings.PORTAL_CURRENCIES:
        request.session[CURRENCY_SESSION_KEY] = wanted
        if request.user.is_authenticated:
            customer_set_currency(user=request.user, currency=wanted)
        return wanted
    if request.user.is_authenticated and request.user.currency in settings.PORTAL_CURRENCIES:
        return request.user.currency
    session_currency = request.session.get(CURRENCY_SESSION_KEY)
    if session_currency in settings.PORTAL_CURRENCIES:
        return session_currency
    return settings.PORTAL_DEFAULT_CURRENCY


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
    })


def plan_detail(request, code):
    currency = chosen_currency(request)
    plan = selectors.plan_get_for_sale(code=code, currency=currency)
    return render(request, "plans/plan_detail.html", {"plan": plan, "currency": currency})
