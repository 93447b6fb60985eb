from django.contrib import admin

from .models import Order, Payment, Receipt


class PaymentInline(admin.TabularInline):
    model = Payment
    extra = 0
    can_delete = False
    fields = ["gateway", "gateway_reference", "amount_minor", "currency", "status",
              "failure_code", "failure_message", "created_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["number", "customer", "kind", "plan", "amount_minor", "currency", "status",
                    "created_at", "paid_at"]
    list_filter = ["status", "kind", "currency"]
    search_fields = ["number", "customer__email", "customer__phone", "esim__iccid"]
    list_select_related = ["customer", "plan"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in Order._meta.fields if f.name != "id"]
    inlines = [PaymentInline]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = ["order", "gateway", "gateway_reference", "status", "amount_minor",
                    "currency", "created_at"]
    list_filter = ["status", "gateway"]
    search_fields = ["order__number", "gateway_reference", "order__customer__email"]
    list_select_related = ["order"]
    readonly_fields = [f.name for f in Payment._meta.fields if f.name != "id"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Receipt)
class ReceiptAdmin(admin.ModelAdmin):
    list_display = ["number", "order", "customer", "total_minor", "currency", "issued_at"]
    list_filter = ["year", "currency"]
    search_fields = ["number", "order__number", "customer__email"]
    list_select_related = ["order", "customer"]
    readonly_fields = [f.name for f in Receipt._meta.fields if f.name != "id"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
