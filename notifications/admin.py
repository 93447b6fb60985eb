from django.contrib import admin, messages
from django.utils.translation import gettext, ngettext_lazy
from django.utils.translation import gettext_lazy as _

from .models import DeliveryAttempt, Notification
from .resend import notifications_resend


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    readonly_fields = ["at", "succeeded", "error"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    """Every message with its attempts. Support finds one by the customer's email, the
    order number or the eSIM's ICCID, and may ask for a failed one again ("Resend");
    nothing of a message is edited by hand."""

    list_display = ["created_at", "customer", "kind", "channel", "recipient", "esim",
                    "threshold", "status", "attempt_count", "next_attempt_at", "sent_at"]
    list_filter = ["kind", "channel", "status"]
    search_fields = ["customer__email", "order__number", "esim__iccid"]
    list_select_related = ["customer", "esim"]
    fields = readonly_fields = ("customer", "kind", "channel", "recipient", "esim", "order",
                                "bundle", "payment", "ticket_message", "threshold", "status",
                                "created_at", "attempt_count", "next_attempt_at", "claimed_at",
                                "sent_at")
    inlines = [DeliveryAttemptInline]
    actions = ["resend"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        """Nothing of a message is edited here: saving it would write its status around
        its state machine."""

    @admin.action(description=_("Resend the selected failed messages"),
                  permissions=["change"])
    def resend(self, request, queryset):
        """A failed message is asked again (attempts reset, sent after the commit); a
        sent one is never sent twice, and a waiting one is already on its way
        (notifications/resend.py). Each resend is recorded in the admin's history."""
        outcome = notifications_resend(notification_ids=queryset.values_list("pk", flat=True))
        for notification in Notification.objects.filter(pk__in=outcome.resent):
            self.log_change(request, notification,
                            gettext("Resent: back to pending, attempts reset."))
        said = (
            (outcome.resent, messages.INFO, ngettext_lazy(
                "%(n)d failed message will be sent again.",
                "%(n)d failed messages will be sent again.", "n")),
            (outcome.already_sent, messages.WARNING, ngettext_lazy(
                "%(n)d message was sent already and is not sent twice.",
                "%(n)d messages were sent already and are not sent twice.", "n")),
            (outcome.on_their_way, messages.WARNING, ngettext_lazy(
                "%(n)d message is waiting to be sent already.",
                "%(n)d messages are waiting to be sent already.", "n")))
        for ids, level, text in said:
            if ids:
                self.message_user(request, text % {"n": len(ids)}, level)
