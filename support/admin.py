from django.contrib import admin

from .models import StaffAction


@admin.register(StaffAction)
class StaffActionAdmin(admin.ModelAdmin):
    list_display = ["at", "actor", "kind", "order", "esim", "note", "outcome"]
    list_filter = ["kind"]
    search_fields = ["actor__email", "order__number", "esim__iccid", "note"]
    list_select_related = ["actor", "order", "esim"]
    readonly_fields = ["actor", "kind", "order", "esim", "note", "outcome", "at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
