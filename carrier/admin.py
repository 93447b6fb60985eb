from django.contrib import admin

from .models import CarrierEvent


@admin.register(CarrierEvent)
class CarrierEventAdmin(admin.ModelAdmin):
    list_display = ["kind", "iccid", "event_key", "received_at"]
    list_filter = ["kind"]
    search_fields = ["iccid", "event_key"]
    readonly_fields = ["kind", "event_key", "iccid", "payload", "received_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
