from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from portal.redirects import safe_next

from . import services
from .forms import LanguageForm, PreferencesForm


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
