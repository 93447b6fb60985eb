from typing import Any

from allauth.account.decorators import secure_admin_login
from allauth.account.utils import get_next_redirect_url
from auditlog.mixins import AuditlogHistoryAdminMixin
from auditlog.models import LogEntry
from django.contrib import admin
from django.contrib.admin.exceptions import NotRegistered
from django.db import models
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils import formats
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.timezone import localtime
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache

from portal import audit
from support import queue


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records nobody edits by hand: documents, audit rows, events from outside."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@never_cache
@secure_admin_login
def staff_login(request, extra_context=None):
    """The admin's login page, which checks no password of its own.

    Staff sign in at allauth's login like customers, so the second factor, the rate
    limits and email confirmation apply to them too: `secure_admin_login` sends anyone
    signed out there (with `next`) and refuses a signed-in customer with a 403. A signed-in
    staff member only gets here by typing the address, and is sent on: Django's own login
    form must never run, or a password posted here would sign in as its owner, second
    factor skipped, with unlimited guesses.
    """
    return HttpResponseRedirect(get_next_redirect_url(request)
                                or reverse("admin:index", current_app=admin.site.name))


class AuditHistoryMixin(AuditlogHistoryAdminMixin):
    """A model admin with the object's audit trail (portal/audit.py) at the foot of its
    change page: the latest changes with who made them and when, and a link to the full
    history (auditlog's page, at `<id>/auditlog/`). Put it before ModelAdmin:
    `class OrderAdmin(AuditHistoryMixin, admin.ModelAdmin)`."""

    audit_history_shown = 10

    def get_readonly_fields(self, request, obj=None):
        fields = tuple(super().get_readonly_fields(request, obj))
        return (*fields, "audit_history") if obj is not None else fields

    def get_fieldsets(self, request, obj=None):
        fieldsets = [
            (name, {**options, "fields": [f for f in options["fields"] if f != "audit_history"]})
            for name, options in super().get_fieldsets(request, obj)]
        if obj is not None:
            fieldsets.append((_("History"), {"fields": ["audit_history"]}))
        return fieldsets

    @admin.display(description=_("Changes"))
    def audit_history(self, obj: models.Model):
        entries = list(audit.audit_entries_for([obj]).order_by("-timestamp", "-pk")
                       [:self.audit_history_shown])
        opts = obj._meta
        full = reverse(f"admin:{opts.app_label}_{opts.model_name}_auditlog", args=[obj.pk])
        if not entries:
            return _("No change recorded yet.")
        rows = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", (
            (formats.date_format(localtime(entry.timestamp), "DATETIME_FORMAT"),
             entry.actor or _("the portal (no one signed in)"), _changes_html(entry))
            for entry in entries))
        return format_html(
            '<table><thead><tr><th scope="col">{}</th><th scope="col">{}</th>'
            '<th scope="col">{}</th></tr></thead><tbody>{}</tbody></table>'
            '<p><a href="{}">{}</a></p>',
            _("When"), _("Who"), _("What changed"), rows, full, _("Full history"))


def _changes_html(entry: LogEntry):
    if entry.action == LogEntry.Action.CREATE:
        return _("Created")
    return format_html_join(mark_safe("<br>"), "{}: {} → {}", (
        (change.label, _value(change.old), _value(change.new))
        for change in audit.entry_changes(entry)))


def _value(value: Any) -> Any:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if hasattr(value, "tzinfo"):
        return formats.date_format(localtime(value), "DATETIME_FORMAT")
    return value


class OrderAttentionFilter(admin.SimpleListFilter):
    """The orders of the support queue (support/queue.py), as the index counts them."""

    title = _("needs a human")
    parameter_name = "attention"

    def lookups(self, request, model_admin):
        return [(queue.STUCK, _("Activation stuck")),
                (queue.FAILED, _("Activation failed")),
                (queue.REFUND_REFUSED, _("Refund refused"))]

    def queryset(self, request, queryset):
        kind = self.value()
        if kind in (queue.STUCK, queue.FAILED, queue.REFUND_REFUSED):
            return queryset.filter(queue.order_attention(kind))
        return queryset


def _changelist(model: type[models.Model], query: str = "") -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist",
                   current_app=admin.site.name) + query


def _column(request: HttpRequest, model: type[models.Model], field: str) -> int | None:
    """The number the admin's list gives the column of `field` in its `o` (ordering)
    parameter: its place among the columns, counting from 0 with the checkbox column
    when the list has actions; None when the list does not show it."""
    model_admin = admin.site.get_model_admin(model)
    columns = list(model_admin.get_list_display(request))
    if model_admin.get_actions(request):
        columns.insert(0, "action_checkbox")
    return columns.index(field) if field in columns else None


def _support_queue(request: HttpRequest) -> list[dict[str, Any]]:
    """Each kind of item of the support queue the signed-in staff member may view, with
    its count (one query each) and the admin list of exactly those rows."""
    from billing.models import Order
    from notifications.models import Notification
    from support.models import Ticket

    def may_view(model: type[models.Model]) -> bool:
        try:
            return admin.site.get_model_admin(model).has_view_permission(request)
        except NotRegistered:
            return False

    items: list[dict[str, Any]] = []
    if may_view(Order):
        for kind in (queue.STUCK, queue.FAILED, queue.REFUND_REFUSED):
            items.append({"kind": kind, "count": queue.orders_needing_attention(kind).count(),
                          "url": _changelist(Order, f"?{OrderAttentionFilter.parameter_name}"
                                                    f"={kind}")})
    if may_view(Notification):
        items.append({"kind": "messages", "count": queue.notifications_failed().count(),
                      "url": _changelist(Notification, "?status__exact="
                                                       f"{Notification.Status.FAILED}")})
    if may_view(Ticket):
        column = _column(request, Ticket, "updated_at")
        ordered = "" if column is None else f"&o={column}"
        items.append({"kind": "tickets", "count": queue.tickets_waiting().count(),
                      "url": _changelist(Ticket, f"?status__exact={Ticket.Status.OPEN}"
                                                 f"{ordered}")})
    return items


def staff_index(request: HttpRequest, extra_context: dict | None = None):
    """The admin's index, opening with what needs a human (support/queue.py): stuck and
    failed activations, refunds the gateway refused, messages that failed, tickets
    waiting for an answer; each with its count and a link to the list of exactly those
    rows, for staff who may view them."""
    from django.conf import settings

    extra = dict(extra_context or {})
    extra["support_queue"] = _support_queue(request)
    extra["stuck_minutes"] = settings.ACTIVATION_STUCK_MINUTES
    return admin.AdminSite.index(admin.site, request, extra)


admin.site.site_header = _("eSIM Portal support desk")
admin.site.site_title = _("eSIM Portal support desk")

# Imported by portal/urls.py before the admin's URLs are built (as staff_login is put in
# place there), so the index view is this one.
admin.site.index = staff_index  # type: ignore[method-assign]
