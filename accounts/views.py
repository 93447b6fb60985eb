import json

from allauth.account.decorators import reauthentication_required
from allauth.core import ratelimit
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from portal.redirects import safe_next

from . import selectors, services
from .closing import AccountCloseRefused, account_close, account_close_refusal
from .forms import CloseAccountForm, LanguageForm, PreferencesForm
from .time_zones import time_zone_label


@login_required
@require_GET
def account(request):
    """Everything about the account on one page, each part linking to where it is
    changed."""
    return _account_page(request)


def _account_page(request, *, status: int = 200):
    return render(request, "accounts/account.html", {
        "summary": selectors.account_summary(user=request.user),
        "time_zone_label": time_zone_label(request.user.time_zone),
    }, status=status)


@login_required
def preferences(request):
    form = PreferencesForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        user = services.customer_update_preferences(user=request.user, **form.cleaned_data)
        translation.activate(user.language)
        messages.success(request, _("Your preferences are saved."))
        response = redirect("accounts:preferences")
        _remember_language(response, user.language)
        return response
    return render(request, "accounts/preferences.html", {"form": form})


@require_POST
def set_language(request):
    """Switch the interface language; stored on the account when signed in."""
    form = LanguageForm(request.POST)
    response = HttpResponseRedirect(safe_next(request, request.POST.get("next"), "/"))
    if form.is_valid():
        language = form.cleaned_data["language"]
        if request.user.is_authenticated:
            services.customer_set_language(user=request.user, language=language)
        _remember_language(response, language)
    return response


def _remember_language(response, language):
    response.set_cookie(settings.LANGUAGE_COOKIE_NAME, language,
                        max_age=365 * 24 * 3600, samesite="Lax",
                        secure=settings.SESSION_COOKIE_SECURE)


@login_required
@require_POST
def data_export(request):
    """Download everything the portal holds about me, as one JSON file. A few times an
    hour at most (ACCOUNT_RATE_LIMITS["export_data"]): each builds the whole file."""
    if not ratelimit.consume(request, action="export_data", user=request.user):
        messages.error(request, _("You downloaded your data a few times already. Try "
                                  "again in an hour."))
        return _account_page(request, status=429)
    data = selectors.account_export(user=request.user)
    response = HttpResponse(json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False,
                                       indent=2),
                            content_type="application/json; charset=utf-8")
    day = timezone.localdate().isoformat()
    response["Content-Disposition"] = f'attachment; filename="esim-portal-data-{day}.json"'
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_http_methods(["GET", "POST"])
@reauthentication_required(allow_get=True)
def close(request):
    """What closing does, then (after the password again: allauth's reauthentication,
    which resumes this POST) close the account."""
    refusal = account_close_refusal(user=request.user)
    form = CloseAccountForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid() and refusal is None:
        try:
            account_close(user=request.user)
        except AccountCloseRefused as exc:
            refusal = str(exc)
        else:
            logout(request)
            return redirect("accounts:closed")
    return render(request, "accounts/close.html", {"form": form, "refusal": refusal},
                  status=409 if request.method == "POST" and refusal else 200)


@require_GET
def closed(request):
    return render(request, "accounts/closed.html")


@login_required
@require_POST
def session_end(request, pk: int):
    """Sign out one of my other sessions (another browser, a lost phone)."""
    session = selectors.session_get_for_user(user=request.user, pk=pk)
    if services.session_end(request=request, session=session):
        messages.success(request, _("That session is signed out."))
    return redirect("usersessions_list")
