"""The notifications page (signed in), and the two pages a signed link in a message opens
without signing in: unsubscribe from one kind of message, skip one auto-renewal."""

import zoneinfo
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from accounts.models import User
from esims.selectors import esim_live_bundles
from renewals.selectors import renewal_preview, renewal_skip_refused
from renewals.services import RenewalError, renewal_skip

from . import phone as phone_service
from . import selectors
from .forms import (
    AlertPercentsForm,
    ChannelsForm,
    CodeForm,
    PhoneForm,
    cell_name,
    default_percents_text,
    percents_text,
)
from .kinds import channel_default
from .links import skip_renewal_read, unsubscribe_read
from .models import Notification
from .preferences import channel_choices_save, channel_switch_off, esim_alert_percents_set

PAGE = "notifications/pages/preferences.html"


# --- The notifications page.

def _customer(request: HttpRequest) -> User:
    # Behind login_required: the visitor is a signed-in customer.
    return cast(User, request.user)


class _Page:
    """The page's forms, unbound unless the one posted was refused."""

    def __init__(self, request: HttpRequest):
        self.user = _customer(request)
        self.phone = phone_service.phone_state(user=self.user)
        self.grid = selectors.settings_grid(customer=self.user)
        self.channels = ChannelsForm(grid=self.grid, sms_choosable=self.phone.verified)
        self.phone_form = PhoneForm(initial={"phone": self.phone.phone})
        self.code_form = CodeForm()
        self.alert_forms = {esim.pk: (esim, self._alert_form(esim))
                            for esim in selectors.alert_esims(customer=self.user)}

    @staticmethod
    def _alert_form(esim, data=None) -> AlertPercentsForm:
        return AlertPercentsForm(data, auto_id=f"id_esim{esim.pk}_%s", initial={
            "esim": esim.pk, "percents": percents_text(esim.data_alert_percents)})

    def context(self, request: HttpRequest) -> dict:
        rows = [(row, [(cell, self.channels[cell_name(row.kind, cell.channel)]
                        if cell.offered else None) for cell in row.cells])
                for row in self.grid]
        return {"phone": self.phone, "rows": rows, "channels_form": self.channels,
                "phone_form": self.phone_form, "code_form": self.code_form,
                "alert_forms": list(self.alert_forms.values()),
                "default_percents": default_percents_text(),
                "history": selectors.history_page(customer=self.user,
                                                  page=request.GET.get("page"))}


def _save_channels(request: HttpRequest, page: _Page) -> bool:
    page.channels = ChannelsForm(request.POST, grid=page.grid,
                                 sms_choosable=page.phone.verified)
    if not page.channels.is_valid():
        return False
    channel_choices_save(customer=request.user, wanted=page.channels.wanted())
    messages.success(request, _("Your message choices are saved."))
    return True


def _save_alerts(request: HttpRequest, page: _Page) -> bool:
    form = AlertPercentsForm(request.POST)
    if not form.is_valid():
        esim_id = form.cleaned_data.get("esim")
        if esim_id in page.alert_forms:  # show the error beside that eSIM's field
            esim = page.alert_forms[esim_id][0]
            page.alert_forms[esim_id] = (esim, page._alert_form(esim, request.POST))
            page.alert_forms[esim_id][1].is_valid()
        return False
    esim = selectors.alert_esim_for_owner(owner=request.user, pk=form.cleaned_data["esim"])
    esim_alert_percents_set(esim=esim, percents=form.cleaned_data["percents"])
    messages.success(request, _("Data alerts for “%(name)s” are saved.")
                     % {"name": esim.nickname})
    return True


def _send_code(request: HttpRequest, page: _Page) -> bool:
    page.phone_form = PhoneForm(request.POST)
    if not page.phone_form.is_valid():
        return False
    number = page.phone_form.cleaned_data["phone"]
    try:
        sent = phone_service.phone_code_send(user=_customer(request), phone=number)
    except phone_service.PhoneCodeRefused as exc:
        messages.error(request, str(exc))
        return True
    if sent:
        messages.success(request, _("We texted a code to %(number)s. Type it below.")
                         % {"number": number})
    else:
        messages.info(request, _("This number is verified already."))
    return True


def _check_code(request: HttpRequest, page: _Page) -> bool:
    page.code_form = CodeForm(request.POST)
    if not page.code_form.is_valid():
        return False
    try:
        phone_service.phone_code_check(user=_customer(request),
                                       code=page.code_form.cleaned_data["code"])
    except phone_service.PhoneCodeRefused as exc:
        messages.error(request, str(exc))
        return True
    messages.success(request, _("Your mobile number is verified."))
    return True


def _remove_phone(request: HttpRequest, page: _Page) -> bool:
    phone_service.phone_remove(user=_customer(request))
    messages.success(request, _("Your mobile number is removed: we send no more texts."))
    return True


# What the page's forms post as "action": each returns False when what was posted is
# malformed (the page is shown again with the errors, as a 400).
_ACTIONS: dict[str, Callable[[HttpRequest, _Page], bool]] = {
    "channels": _save_channels, "alerts": _save_alerts, "phone": _send_code,
    "verify": _check_code, "phone_remove": _remove_phone}


@login_required
@require_http_methods(["GET", "POST"])
def preferences(request):
    """The customer's messages: kinds per channel, data alerts per eSIM, the mobile
    number and its verification, and what was sent."""
    page = _Page(request)
    status = 200
    if request.method == "POST":
        action = _ACTIONS.get(request.POST.get("action", ""))
        if action is not None and action(request, page):
            return redirect("notifications:preferences")
        status = 400
        if action is None:
            messages.error(request, _("This form could not be read. Please try again."))
        page.phone = phone_service.phone_state(user=_customer(request))
    return render(request, PAGE, page.context(request), status=status)


# --- Signed links, no sign-in.

@contextmanager
def _as_customer(customer) -> Iterator[None]:
    """Render in the language and time zone of the customer the link was sent to."""
    try:
        zone = zoneinfo.ZoneInfo(customer.time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = zoneinfo.ZoneInfo("UTC")
    with translation.override(customer.language), timezone.override(zone):
        yield


def _link_invalid(request: HttpRequest) -> HttpResponse:
    return render(request, "notifications/pages/link_invalid.html", status=400)


@csrf_exempt  # RFC 8058: mail clients POST "List-Unsubscribe=One-Click" with no cookie.
@require_http_methods(["GET", "POST"])
def unsubscribe(request, token):
    """GET shows what the link switches off; POST (the page's button, or a mail client's
    one-click "List-Unsubscribe=One-Click") switches it off. The POST does nothing but
    that one signed switch-off, so it needs no CSRF token; repeating it changes nothing."""
    link = unsubscribe_read(token)
    customer = selectors.customer_for_link(link.customer_id) if link else None
    if link is None or customer is None or channel_default(link.kind, link.channel) is None:
        return _link_invalid(request)
    if request.method == "POST" and request.POST.get("List-Unsubscribe") != "One-Click":
        return _link_invalid(request)
    done = False
    if request.method == "POST":
        channel_switch_off(customer=customer, kind=link.kind, channel=link.channel)
        done = True
    with _as_customer(customer):
        return render(request, "notifications/pages/unsubscribe.html", {
            "kind": Notification.Kind(link.kind).label,
            "channel": Notification.Channel(link.channel).label,
            "done": done, "token": token,
            "is_on": selectors.channel_choices(customer=customer)[(link.kind, link.channel)]})


@require_http_methods(["GET", "POST"])
def skip_renewal(request, token):
    """GET shows the auto-renewal the link skips (plan, date, amount); POST skips it:
    no charge follows the plan running now, and auto-renewal stays on for the next. A
    link whose plan is no longer running has nothing to skip."""
    link = skip_renewal_read(token)
    esim = selectors.esim_for_link(link.esim_id) if link else None
    if link is None or esim is None:
        return _link_invalid(request)
    state, error = _skip_state(esim, link.bundle_id)
    if request.method == "POST" and state == "skippable":
        try:
            renewal_skip(esim=esim, bundle_id=link.bundle_id)
            state = "skipped"
        except RenewalError as exc:
            state, error = "stale", str(exc)
    with _as_customer(esim.owner):
        preview = renewal_preview(esim=esim) if state == "skippable" else None
        return render(request, "notifications/pages/skip_renewal.html", {
            "esim": esim, "state": state, "preview": preview, "error": error,
            "token": token})


def _skip_state(esim, bundle_id: int) -> tuple[str, str]:
    """"skipped" (done already), "skippable", "off" (auto-renewal is off: nothing will be
    charged) or "stale" with why (that plan no longer runs, or its renewal is paid)."""
    if esim.renewal_skipped_bundle_id == bundle_id:
        return "skipped", ""
    if not esim.auto_renew:
        return "off", ""
    refused = renewal_skip_refused(esim_live_bundles(esim), bundle_id=bundle_id)
    return ("stale", refused) if refused is not None else ("skippable", "")


@login_required
@require_http_methods(["GET", "HEAD"])
def message_go(request: HttpRequest, pk: int) -> HttpResponse:
    """A text's short link: the customer's own message only (anyone else's is a 404),
    sent on to what it asks them to do. It changes nothing: the page it opens does."""
    from .services import message_action_url

    notification = selectors.notification_get_for_customer(customer=request.user, pk=pk)
    return redirect(message_action_url(notification))
