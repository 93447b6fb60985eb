"""Support's pages for an eSIM and its customer in the admin: the story pages
(support/story.py) and the actions on an eSIM, each a confirmation page that asks why
and then calls one service (esims/services.py, renewals/services.py), which records who
did it and why in the same transaction. docs/support-desk.md describes them.

Every action needs the permission to change eSIMs; the story pages, the permission to
see eSIMs (and customers, for a customer's). A carrier failure, a state that no longer
allows the action or an action done already is told with a message, never a 500, and
leaves nothing half done: the same form can be sent again.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from billing.models import Order
from carrier.client import CarrierError
from portal.redirects import safe_next
from portal.states import TransitionNotAllowed
from renewals.services import auto_renew_switch_off
from support.models import StaffAction
from support.staff import ActionDoneAlready, ActionRefused, staff_action_latest
from support.staff_forms import ExtendForm, GuardedReasonForm, ReasonForm
from support.story import Story, customer_story, esim_story, story_targets

from . import selectors, services
from .models import ESim


def story_context(request, story: Story) -> dict:
    """The events with a link to each one's admin page when the viewer may see it, and
    the orders and tickets with the actions the viewer may take on them."""
    allowed = {label for label in story_targets(story.events)
               if request.user.has_perm("{}.view_{}".format(*label.split(".")))}
    rows = []
    for event in story.events:
        url = ""
        if event.target is not None and event.target[0] in allowed:
            app, model = event.target[0].split(".")
            try:
                url = reverse(f"admin:{app}_{model}_change", args=[event.target[1]])
            except NoReverseMatch:
                url = ""
        rows.append({"event": event, "url": url})
    here = urlencode({"next": request.get_full_path()})
    may_order = request.user.has_perm("billing.change_order")
    orders = []
    for order in story.orders:
        actions = []
        if may_order and order.paid_at and order.status != Order.Status.REFUNDED:
            actions.append({"label": _("Refund"), "url": reverse(
                "admin:billing_order_refund", args=[order.pk]) + "?" + here})
        if may_order and order.status in (Order.Status.FAILED, Order.Status.ACTIVATING,
                                          Order.Status.PAID):
            actions.append({"label": _("Retry activation"), "url": reverse(
                "admin:billing_order_retry", args=[order.pk]) + "?" + here})
        orders.append({"order": order, "actions": actions})
    tickets = [{"ticket": ticket, "reply_url": reverse(
        "admin:support_ticket_reply", args=[ticket.pk]) + "?" + here
        if request.user.has_perm("support.change_ticket") else ""}
        for ticket in story.tickets]
    return {"rows": rows, "since": story.since, "orders": orders, "tickets": tickets,
            "time_zone": timezone.get_current_timezone_name()}


def story_lists(request, query: str) -> list[dict]:
    """The admin's lists that hold the whole of a story searched by `query` (an email
    address or an ICCID), those the viewer may see: for what the page leaves out."""
    lists = (("billing.order", _("orders")), ("notifications.notification", _("messages")),
             ("support.ticket", _("tickets")), ("support.staffaction", _("staff actions")))
    return [{"label": label, "url": reverse("admin:{}_{}_changelist".format(
        *name.split("."))) + "?" + urlencode({"q": query})}
        for name, label in lists if request.user.has_perm("{}.view_{}".format(
            *name.split(".")))]


def esim_summary(esim: ESim, user) -> dict:
    """What the story pages show of an eSIM (its live bundles prefetched): its plans now
    and the actions the viewer may take on it."""
    live = esim.live_bundles  # type: ignore[attr-defined]  # prefetched
    running = selectors.bundle_running(live)
    may = user.has_perm("esims.change_esim")
    actions = []
    if may:
        for name, label, allowed in (
                ("extend", _("Extend validity"), running is not None
                 and running.ends_at is not None),
                ("resend_install", _("Resend install instructions"),
                 esim.state == ESim.State.READY),
                ("suspend", _("Suspend"), esim.state in (ESim.State.READY,
                                                         ESim.State.INSTALLED)),
                ("resume", _("Resume"), esim.state == ESim.State.SUSPENDED),
                ("auto_renew_off", _("Switch auto-renewal off"), esim.auto_renew)):
            if allowed:
                actions.append({"label": label, "url": reverse(f"admin:esims_esim_{name}",
                                                               args=[esim.pk])})
    return {"esim": esim, "current": selectors.bundle_current(live),
            "queued": selectors.bundles_queued(live), "paid_until": selectors.paid_until(live),
            "actions": actions}


class ESimSupportMixin:
    """The story pages and support's actions, for ESimAdmin (put it before ModelAdmin)."""

    def get_urls(self):
        view = self.admin_site.admin_view  # type: ignore[attr-defined]
        return [
            path("<int:pk>/story/", view(self.story_view), name="esims_esim_story"),
            path("customer/<int:pk>/story/", view(self.customer_story_view),
                 name="esims_customer_story"),
            path("<int:pk>/extend/", view(self.extend_view), name="esims_esim_extend"),
            path("<int:pk>/suspend/", view(self.suspend_view), name="esims_esim_suspend"),
            path("<int:pk>/resume/", view(self.resume_view), name="esims_esim_resume"),
            path("<int:pk>/resend-install/", view(self.resend_install_view),
                 name="esims_esim_resend_install"),
            path("<int:pk>/auto-renew-off/", view(self.auto_renew_off_view),
                 name="esims_esim_auto_renew_off"),
            *super().get_urls(),  # type: ignore[misc]
        ]

    # --- Story pages ----------------------------------------------------------------

    def _esims_with_plans(self):
        return ESim.objects.select_related("owner", "renewal_plan").prefetch_related(
            Prefetch("bundles", queryset=selectors.live_bundles(), to_attr="live_bundles"))

    def story_view(self, request, pk):
        if not self.has_view_permission(request):  # type: ignore[attr-defined]
            raise PermissionDenied
        esim = get_object_or_404(self._esims_with_plans(), pk=pk)
        story = esim_story(esim=esim)
        may_see_customer = request.user.has_perm(f"{get_user_model()._meta.app_label}.view_user")
        return self._story_page(request, story, {
            "title": _("Story of eSIM %(esim)s") % {"esim": esim},
            "esim": esim, "summaries": [esim_summary(esim, request.user)],
            "customer": esim.owner, "customer_story_url": reverse(
                "admin:esims_customer_story", args=[esim.owner_id]) if may_see_customer else "",
            "lists": story_lists(request, esim.iccid or esim.owner.email)})

    def customer_story_view(self, request, pk):
        user_model = get_user_model()
        if not request.user.has_perm(f"{user_model._meta.app_label}.view_user"):
            raise PermissionDenied
        customer = get_object_or_404(user_model, pk=pk)
        story = customer_story(customer=customer)
        return self._story_page(request, story, {
            "title": _("Story of %(customer)s") % {"customer": customer},
            "customer": customer, "contact": True,
            "lists": story_lists(request, customer.email),
            "summaries": [esim_summary(esim, request.user) for esim in story.esims]})

    def _story_page(self, request, story: Story, extra: dict):
        context = {**self.admin_site.each_context(request),  # type: ignore[attr-defined]
                   "opts": ESim._meta, **story_context(request, story), **extra,
                   "here": request.get_full_path()}
        return TemplateResponse(request, "admin/support/story.html", context)

    # --- Actions --------------------------------------------------------------------

    def _esim_for_action(self, request, pk) -> ESim:
        if not request.user.has_perm("esims.change_esim"):
            raise PermissionDenied
        return get_object_or_404(ESim.objects.select_related("owner"), pk=pk)

    def _back(self, request, esim: ESim) -> str:
        return safe_next(request, request.POST.get("next") or request.GET.get("next"),
                         reverse("admin:esims_esim_change", args=[esim.pk]))

    def _confirm(self, request, esim: ESim, form, *, title: str, lead: str,
                 points: list[str], submit: str):
        context = {**self.admin_site.each_context(request),  # type: ignore[attr-defined]
                   "opts": ESim._meta, "original": esim, "title": title, "lead": lead,
                   "points": points, "form": form, "submit": submit,
                   "next": self._back(request, esim)}
        return TemplateResponse(request, "admin/support/staff_action.html", context)

    def _act(self, request, esim: ESim, form, do, *, done: str, **page):
        """The action's page: on a valid POST, `do(form.cleaned_data)` and back where the
        agent came from with its outcome; otherwise (or after a carrier failure, so the
        same form can be sent again) the confirmation page."""
        if request.method == "POST" and form.is_valid():
            try:
                outcome = do(form.cleaned_data)
            except CarrierError as exc:
                messages.error(request, _("The carrier did not do it: %(error)s. Nothing was "
                                          "changed here; you can send this form again.")
                               % {"error": exc})
            except ActionDoneAlready as exc:
                messages.warning(request, str(exc))
                return redirect(self._back(request, esim))
            except ActionRefused as exc:
                messages.error(request, str(exc))
                return redirect(self._back(request, esim))
            except TransitionNotAllowed:
                esim.refresh_from_db()
                messages.error(request, _("Not done: the eSIM is %(state)s now.")
                               % {"state": esim.get_state_display()})
                return redirect(self._back(request, esim))
            else:
                messages.success(request, done % (outcome or {}))
                return redirect(self._back(request, esim))
        return self._confirm(request, esim, form, **page)

    def extend_view(self, request, pk):
        esim = self._esim_for_action(request, pk)
        kind = StaffAction.Kind.EXTEND_VALIDITY
        form = ExtendForm(request.POST or None, initial={
            "since": staff_action_latest(kind=kind, esim=esim)})
        running = selectors.esim_running_bundle(esim=esim)

        def do(data):
            bundle = services.esim_extend(esim_id=esim.pk, days=data["days"],
                                          since=data["since"], actor=request.user,
                                          reason=data["reason"])
            return {"end": _when(bundle.ends_at), "days": data["days"]}

        ends = _when(running.ends_at) if running is not None else "-"
        return self._act(
            request, esim, form, do,
            done=_("Extended by %(days)s days: the plan now ends %(end)s."),
            title=_("Extend validity of %(esim)s") % {"esim": esim},
            lead=_("Add days to the plan running now (%(plan)s, ends %(end)s), at the "
                   "carrier and here.") % {"plan": running.plan_name if running else "-",
                                           "end": ends},
            points=[_("Plans waiting behind it start that much later; expiry reminders "
                      "and the auto-renewal charge move with the new end."),
                    _("Nothing is charged to the customer.")],
            submit=_("Extend now"))

    def suspend_view(self, request, pk):
        esim = self._esim_for_action(request, pk)

        def do(data):
            services.esim_suspend_at_carrier(esim_id=esim.pk, actor=request.user,
                                             reason=data["reason"])

        return self._act(
            request, esim, ReasonForm(request.POST or None), do,
            done=_("Suspended at the carrier: no data flows until it is resumed."),
            title=_("Suspend %(esim)s") % {"esim": esim},
            lead=_("Stop the eSIM's service at the carrier (for a lost or stolen device, "
                   "say)."),
            points=[_("No data flows while it is suspended; its plans keep their dates."),
                    _("No auto-renewal is charged while it is suspended; resuming it "
                      "schedules the next charge again.")],
            submit=_("Suspend now"))

    def resume_view(self, request, pk):
        esim = self._esim_for_action(request, pk)

        def do(data):
            state = services.esim_resume_at_carrier(esim_id=esim.pk, actor=request.user,
                                                    reason=data["reason"])
            return {"state": ESim.State(state).label}

        return self._act(
            request, esim, ReasonForm(request.POST or None), do,
            done=_("Resumed at the carrier: the eSIM is %(state)s again."),
            title=_("Resume %(esim)s") % {"esim": esim},
            lead=_("Give the eSIM its service back at the carrier."), points=[],
            submit=_("Resume now"))

    def resend_install_view(self, request, pk):
        esim = self._esim_for_action(request, pk)
        kind = StaffAction.Kind.RESEND_INSTALL
        form = GuardedReasonForm(request.POST or None, initial={
            "since": staff_action_latest(kind=kind, esim=esim)})

        def do(data):
            made = services.esim_install_resend(esim_id=esim.pk, since=data["since"],
                                                actor=request.user, reason=data["reason"])
            return {"email": esim.owner.email, "count": len(made)}

        return self._act(
            request, esim, form, do,
            done=_("The install instructions go out again to %(email)s (%(count)s "
                   "message(s))."),
            title=_("Resend install instructions for %(esim)s") % {"esim": esim},
            lead=_("Send the “eSIM ready to install” message to %(email)s again, "
                   "with the install link and QR code page.") % {"email": esim.owner.email},
            points=[_("A new copy is sent even if the first one arrived.")],
            submit=_("Send again"))

    def auto_renew_off_view(self, request, pk):
        esim = self._esim_for_action(request, pk)

        def do(data):
            if not auto_renew_switch_off(esim=esim, actor=request.user,
                                         reason=data["reason"]):
                raise ActionDoneAlready(_("Auto-renewal was off already. Nothing was done."))

        return self._act(
            request, esim, ReasonForm(request.POST or None), do,
            done=_("Auto-renewal switched off."),
            title=_("Switch auto-renewal off on %(esim)s") % {"esim": esim},
            lead=_("Switch auto-renewal off, as the customer can on their own auto-renewal "
                   "page."),
            points=[_("It stops at once: nothing more is charged, not even a retry. The "
                      "plan and card chosen are kept, for switching on again.")],
            submit=_("Switch off now"))


def _when(moment: datetime | None) -> str:
    """A time in the viewer's zone, as the admin writes them."""
    if moment is None:
        return "-"
    return formats.date_format(timezone.localtime(moment), "DATETIME_FORMAT")
