from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from .models import Bundle, ESim


class BundleInline(admin.TabularInline):
    model = Bundle
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ["plan_name", "state", "starts_at", "ends_at", "data_allowance_bytes",
              "data_used_bytes", "order"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ESim)
class ESimAdmin(admin.ModelAdmin):
    list_display = ["nickname", "owner", "iccid", "state", "auto_renew", "created_at"]
    list_filter = ["state", "auto_renew"]
    search_fields = ["iccid", "owner__email", "owner__phone", "nickname", "orders__number",
                     "eid"]
    list_select_related = ["owner"]
    # eSIMs come only from paid orders, and their state from the carrier: support edits
    # the nickname here; every other change goes through a recorded action.
    readonly_fields = ["owner", "iccid", "eid", "smdp_address", "matching_id", "state",
                       "auto_renew", "renewal_plan", "created_at", "ready_at", "installed_at",
                       "synced_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["owner", "nickname", "state"]}),
        (_("Profile"), {"fields": ["iccid", "eid", "smdp_address", "matching_id"]}),
        (_("Renewal"), {"fields": ["auto_renew", "renewal_plan"]}),
        (_("Dates"), {"fields": ["created_at", "ready_at", "installed_at", "synced_at",
                                 "updated_at"]}),
    ]
    inlines = [BundleInline]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Bundle)
class BundleAdmin(admin.ModelAdmin):
    list_display = ["carrier_reference", "esim", "plan_name", "state", "starts_at", "ends_at"]
    list_filter = ["state"]
    search_fields = ["carrier_reference", "esim__iccid", "esim__owner__email"]
    list_select_related = ["esim"]
    readonly_fields = [f.name for f in Bundle._meta.fields]

    def has_add_permission(self, request):
        return False
