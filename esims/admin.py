from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from billing.models import Order
from portal.admin import AuditHistoryMixin
from portal.formatting import money
from renewals.services import auto_renew_switch_off

from .admin_actions import ESimSupportMixin
from .models import Bundle, ESim


class BundleInline(admin.TabularInline):
    model = Bundle
    extra = 0
    can_delete = False
    show_change_link = True
    # A tuple: a list would take the type of `fields` (field groups), which does not fit
    # `readonly_fields` (names only).
    fields = readonly_fields = ("plan_name", "state", "starts_at", "ends_at",
                                "data_allowance_bytes", "data_used_bytes", "order")

    def has_add_permission(self, request, obj=None):
        return False


class OrderInline(admin.TabularInline):
    """The eSIM's orders with how each was paid, its receipt and any credit note."""

    model = Order
    extra = 0
    can_delete = False
    show_change_link = True
    # A tuple, as in BundleInline.
    fields = readonly_fields = ("number", "kind", "plan", "status", "amount", "paid_at",
                                "payments", "receipt", "credit_note")

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return (super().get_queryset(request).select_related("plan", "receipt__credit_note")
                .prefetch_related("payments"))

    @admin.display(description=_("amount"))
    def amount(self, order):
        return money(order.amount_minor, order.currency)

    @admin.display(description=_("payments"))
    def payments(self, order):
        return ", ".join(f"{p.gateway} {p.get_status_display()}" for p in order.payments.all())

    @admin.display(description=_("receipt"))
    def receipt(self, order):
        return getattr(getattr(order, "receipt", None), "number", "-")

    @admin.display(description=_("credit note"))
    def credit_note(self, order):
        receipt = getattr(order, "receipt", None)
        return getattr(getattr(receipt, "credit_note", None), "number", "-")


class AutoRenewOffForm(forms.Form):
    reason = forms.CharField(label=_("Reason (recorded)"), max_length=255)


@admin.register(ESim)
class ESimAdmin(ESimSupportMixin, AuditHistoryMixin, admin.ModelAdmin):
    list_display = ["nickname", "owner", "iccid", "state", "auto_renew", "created_at",
                    "stories"]
    list_filter = ["state", "auto_renew"]
    search_fields = ["iccid", "owner__email", "owner__phone", "nickname", "orders__number",
                     "eid"]
    list_select_related = ["owner"]
    # eSIMs come only from paid orders, and their state from the carrier: support edits
    # the nickname here; every other change goes through a recorded action.
    readonly_fields = ["owner", "iccid", "eid", "smdp_address", "matching_id", "state",
                       "auto_renew", "auto_renew_since", "renewal_plan",
                       "renewal_payment_method", "renew_at", "renewal_notice_at", "created_at",
                       "ready_at", "installed_at", "synced_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["owner", "nickname", "state"]}),
        (_("Profile"), {"fields": ["iccid", "eid", "smdp_address", "matching_id"]}),
        (_("Renewal"), {"fields": ["auto_renew", "auto_renew_since", "renewal_plan",
                                    "renewal_payment_method", "renew_at",
                                    "renewal_notice_at"]}),
        (_("Dates"), {"fields": ["created_at", "ready_at", "installed_at", "synced_at",
                                 "updated_at"]}),
    ]
    inlines = [OrderInline, BundleInline]
    actions = ["switch_auto_renew_off"]

    @admin.action(description=_("Switch auto-renewal off (recorded)"),
                  permissions=["change"])
    def switch_auto_renew_off(self, request, queryset):
        """Asks for the reason first (recorded, as with every staff action), then
        switches off as the customer's own switch does."""
        form = AutoRenewOffForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            return TemplateResponse(request, "esims/admin/auto_renew_off.html", {
                **self.admin_site.each_context(request), "opts": self.model._meta,
                "title": _("Switch auto-renewal off"), "form": form,
                "esims": queryset.select_related("owner"),
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME})
        esims = list(queryset)
        switched = sum(auto_renew_switch_off(esim=esim, actor=request.user,
                                             reason=form.cleaned_data["reason"])
                       for esim in esims)
        self.message_user(request, ngettext(
            "Auto-renewal switched off on %(n)d eSIM.",
            "Auto-renewal switched off on %(n)d eSIMs.", switched) % {"n": switched})
        if already := len(esims) - switched:
            self.message_user(request, ngettext(
                "%(n)d had it off already.", "%(n)d had it off already.", already) % {
                "n": already}, messages.WARNING)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("story"))
    def stories(self, esim):
        """Where a search by email, phone, ICCID or order number leads: the eSIM's whole
        story, and its customer's."""
        return format_html('<a href="{}">{}</a> · <a href="{}">{}</a>',
                           reverse("admin:esims_esim_story", args=[esim.pk]), _("eSIM"),
                           reverse("admin:esims_customer_story", args=[esim.owner_id]),
                           _("customer"))


@admin.register(Bundle)
class BundleAdmin(AuditHistoryMixin, admin.ModelAdmin):
    list_display = ["carrier_reference", "esim", "plan_name", "state", "starts_at", "ends_at"]
    list_filter = ["state"]
    search_fields = ["carrier_reference", "esim__iccid", "esim__owner__email"]
    list_select_related = ["esim"]
    readonly_fields = [f.name for f in Bundle._meta.fields]

    def has_add_permission(self, request):
        return False
