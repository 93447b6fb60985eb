from django.contrib import admin

from portal.admin import ReadOnlyAdmin

from .models import CarrierEvent


@admin.register(CarrierEvent)
class CarrierEventAdmin(ReadOnlyAdmin):
    list_display = ["kind", "iccid", "event_key", "received_at"]
    list_filter = ["kind"]
    search_fields = ["iccid", "event_key"]
    readonly_fields = ["kind", "event_key", "iccid", "payload", "received_at"]
