from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from portal.admin import AuditHistoryMixin, ReadOnlyAdmin
from portal.redirects import safe_next
from support import selectors, services

from .models import StaffAction, Ticket, TicketMessage
from .staff import ActionDoneAlready, ActionRefused
from .staff_forms import TicketReplyForm


@admin.register(StaffAction)
class StaffActionAdmin(ReadOnlyAdmin):
    list_display = ["at", "actor", "kind", "order", "esim", "note", "outcome"]
    list_filter = ["kind"]
    search_fields = ["actor__email", "order__number", "esim__iccid", "note"]
    list_select_related = ["actor", "order", "esim"]
    readonly_fields = ["actor", "kind", "order", "esim", "note", "outcome", "at"]


class TicketMessageInline(admin.StackedInline):
    """The conversation, read-only: support answers on the reply page (`reply_view`),
    which asks why and records it."""

    model = TicketMessage
    extra = 0
    can_delete = False
    fields = ["author", "from_staff", "created_at", "body"]
    readonly_fields = ["author", "from_staff", "created_at"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Ticket)
class TicketAdmin(AuditHistoryMixin, admin.ModelAdmin):
    """Support answers on the reply page and closes with the list's action; the status
    follows (support/ticket_states.py), never edited by hand."""

    list_display = ["pk", "subject", "customer", "order", "status", "updated_at"]
    list_filter = ["status"]
    search_fields = ["subject", "customer__email", "order__number", "esim__iccid"]
    list_select_related = ["customer", "order"]
    fields = readonly_fields = ("customer", "order", "esim", "subject", "status",
                                "created_at", "updated_at", "answered_at", "closed_at")
    inlines = [TicketMessageInline]
    actions = ["close_tickets"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Close the selected tickets"), permissions=["change"])
    def close_tickets(self, request, queryset):
        closed = services.tickets_close(tickets=queryset)
        self.message_user(request, ngettext("%(count)d ticket closed.",
                                            "%(count)d tickets closed.", closed)
                          % {"count": closed})

    def save_model(self, request, obj, form, change):
        """Nothing of the ticket itself is edited here: saving it would write its status
        around the state machine. Support writes on the reply page."""

    def get_urls(self):
        return [path("<int:pk>/reply/", self.admin_site.admin_view(self.reply_view),
                     name="support_ticket_reply"),
                *super().get_urls()]

    def reply_view(self, request, pk):
        """Write to the customer: the message, and why (recorded with the reply as a
        staff action, support.services.ticket_reply). The form names the latest message
        the agent had read: sent twice, or after the customer wrote again, it sends
        nothing."""
        if not request.user.has_perm("support.change_ticket"):
            raise PermissionDenied
        ticket = get_object_or_404(Ticket.objects.select_related("customer", "order",
                                                                 "esim"), pk=pk)
        back = safe_next(request, request.POST.get("next") or request.GET.get("next"),
                         reverse("admin:support_ticket_change", args=[ticket.pk]))
        latest = (ticket.messages.order_by("-pk").values_list("pk", flat=True).first() or 0)
        form = TicketReplyForm(request.POST or None, initial={"since_message": latest})
        if request.method == "POST" and form.is_valid():
            try:
                services.ticket_reply(ticket=ticket, author=request.user,
                                      body=form.cleaned_data["body"], from_staff=True,
                                      reason=form.cleaned_data["reason"],
                                      since_message=form.cleaned_data["since_message"])
            except ActionDoneAlready as exc:
                messages.warning(request, str(exc))
            except ActionRefused as exc:
                messages.error(request, str(exc))
                return redirect(reverse("admin:support_ticket_change", args=[ticket.pk]))
            else:
                messages.success(request, _("Reply sent to %(email)s.") % {
                    "email": ticket.customer.email})
            return redirect(back)
        context = {
            **self.admin_site.each_context(request), "opts": self.model._meta,
            "original": ticket, "form": form, "next": back,
            "title": _("Reply to ticket #%(pk)s") % {"pk": ticket.pk},
            # The subject may hold quotation marks of its own ("About my eSIM “Mum”").
            "lead": _("Write to %(email)s. Subject: %(subject)s") % {
                "email": ticket.customer.email, "subject": ticket.subject},
            "points": [_("The customer is told by email, in their language, and reads the "
                         "reply on their ticket page."),
                       _("The reason is for support only.")],
            "conversation": selectors.ticket_messages(ticket=ticket),
            "submit": _("Send the reply")}
        return TemplateResponse(request, "admin/support/ticket/reply.html", context)
