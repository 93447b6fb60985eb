from django.contrib import admin

from .models import DeliveryAttempt, Notification


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    readonly_fields = ["at", "succeeded", "error"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["created_at", "customer", "kind", "channel", "order", "status",
                    "attempt_count", "next_attempt_at", "sent_at"]
    list_filter = ["kind", "channel", "status"]
    search_fields = ["customer__email", "order__number"]
    list_select_related = ["customer", "order"]
    readonly_fields = ["customer", "kind", "channel", "order", "status", "created_at",
                       "attempt_count", "next_attempt_at", "claimed_at", "sent_at"]
    inlines = [DeliveryAttemptInline]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
