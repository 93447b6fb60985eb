from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from portal.admin import AuditHistoryMixin, ReadOnlyAdmin
from support import services

from .models import StaffAction, Ticket, TicketMessage


@admin.register(StaffAction)
class StaffActionAdmin(ReadOnlyAdmin):
    list_display = ["at", "actor", "kind", "order", "esim", "note", "outcome"]
    list_filter = ["kind"]
    search_fields = ["actor__email", "order__number", "esim__iccid", "note"]
    list_select_related = ["actor", "order", "esim"]
    readonly_fields = ["actor", "kind", "order", "esim", "note", "outcome", "at"]


class TicketMessageInline(admin.StackedInline):
    """Earlier messages are read-only; support answers by adding a message."""

    model = TicketMessage
    extra = 1
    can_delete = False
    fields = ["author", "from_staff", "created_at", "body"]
    readonly_fields = ["author", "from_staff", "created_at"]

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Ticket)
class TicketAdmin(AuditHistoryMixin, admin.ModelAdmin):
    """Support answers by adding a message and closes with the list's action; the status
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

    @admin.action(description=_("Close the selected tickets"))
    def close_tickets(self, request, queryset):
        closed = services.tickets_close(tickets=queryset)
        self.message_user(request, ngettext("%(count)d ticket closed.",
                                            "%(count)d tickets closed.", closed)
                          % {"count": closed})

    def save_model(self, request, obj, form, change):
        """Nothing of the ticket itself is edited here: saving it would write its status
        around the state machine. Its messages are saved by `save_formset`."""

    def save_formset(self, request, form, formset, change):
        """A message added here is support's reply, from the staff member signed in."""
        for message in formset.save(commit=False):
            services.ticket_reply(ticket=form.instance, author=request.user,
                                  body=message.body, from_staff=True)
