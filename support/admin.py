from django.contrib import admin

from portal.admin import ReadOnlyAdmin
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
class TicketAdmin(admin.ModelAdmin):
    list_display = ["pk", "subject", "customer", "order", "status", "updated_at"]
    list_filter = ["status"]
    search_fields = ["subject", "customer__email", "order__number", "esim__iccid"]
    list_select_related = ["customer", "order"]
    readonly_fields = ["customer", "order", "esim", "subject", "created_at", "updated_at"]
    fields = ["customer", "order", "esim", "subject", "status", "created_at", "updated_at"]
    inlines = [TicketMessageInline]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_formset(self, request, form, formset, change):
        """A message added here is support's reply, from the staff member signed in."""
        for message in formset.save(commit=False):
            services.ticket_reply(ticket=form.instance, author=request.user,
                                  body=message.body, from_staff=True)
