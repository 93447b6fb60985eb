from typing import cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from billing import selectors as billing_selectors

from . import selectors, services
from .dashboard import CSRF_PLACEHOLDER, PageRequest, dashboard_response
from .forms import RenameForm
from .qr import qr_svg


@login_required
def dashboard(request):
    def render_page(cards_html: str, page_request: PageRequest) -> str:
        return render_to_string("esims/dashboard.html", {
            "cards": mark_safe(cards_html),  # noqa: S308 (rendered by our own templates)
            "csrf_token": CSRF_PLACEHOLDER, "request": page_request}, request)

    return dashboard_response(request, render_page)


@login_required
def install(request, pk):
    esim = selectors.esim_get_for_owner(owner=request.user, pk=pk)
    qr = mark_safe(qr_svg(esim.lpa_uri)) if esim.can_install else ""  # noqa: S308 (our SVG)
    refundable = billing_selectors.esims_self_refund_orders(esim_ids=[esim.pk],
                                                            now=timezone.now())
    return render(request, "esims/install.html", {
        "esim": esim, "qr": qr, "bundle": selectors.esim_current_bundle(esim),
        "refund_order": refundable.get(esim.pk)})


@login_required
@require_POST
def rename(request, pk):
    esim = selectors.esim_get_for_owner(owner=request.user, pk=pk)
    form = RenameForm(request.POST)
    if form.is_valid():
        services.esim_rename(esim=esim, nickname=form.cleaned_data["nickname"])
        messages.success(request, _("Renamed to “%(name)s”.") % {"name": esim.nickname})
    else:
        # ErrorList[i] is the message text (ErrorList.__getitem__); the stubs see the list's items.
        messages.error(request, cast(str, form.errors["nickname"][0]))
    return redirect("esims:dashboard")
