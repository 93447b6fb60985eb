from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from carrier.client import CarrierError
from portal.admin import AuditHistoryMixin, OrderAttentionFilter, ReadOnlyAdmin
from portal.formatting import money
from portal.redirects import safe_next
from support.models import StaffAction
from support.staff import ActionDoneAlready, staff_action_latest
from support.staff_forms import GuardedReasonForm

from . import services
from .gateways import GatewayError
from .models import (
    CreditNote,
    GatewayCustomer,
    GatewayEvent,
    Order,
    Payment,
    PaymentMethod,
    Receipt,
)


class PaymentInline(admin.TabularInline):
    model = Payment
    extra = 0
    can_delete = False
    # A tuple: a list would be typed by `fields`' declaration (field groups) and then not
    # fit `readonly_fields` (names only).
    fields = readonly_fields = ("gateway", "gateway_reference", "amount", "status",
                                "failure_code", "failure_message", "refunded_at", "created_at")

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description=_("amount"))
    def amount(self, payment: Payment) -> str:
        return money(payment.amount_minor, payment.currency)


# Amounts in lists as customers read them ("US$8.00"), not in minor units.
@admin.display(description=_("amount"), ordering="amount_minor")
def amount(row: Order | Payment) -> str:
    return money(row.amount_minor, row.currency)


@admin.display(description=_("total"), ordering="total_minor")
def total(row: Receipt | CreditNote) -> str:
    return money(row.total_minor, row.currency)


class RefundForm(forms.Form):
    reason = forms.CharField(label=_("Reason (recorded, and printed on the credit note)"),
                             max_length=255)


@admin.register(Order)
class OrderAdmin(AuditHistoryMixin, admin.ModelAdmin):
    list_display = ["number", "customer", "kind", "plan", amount, "status", "created_at",
                    "paid_at", "story"]
    list_filter = [OrderAttentionFilter, "status", "kind", "currency"]
    search_fields = ["number", "customer__email", "customer__phone", "esim__iccid"]
    list_select_related = ["customer", "plan"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in Order._meta.fields if f.name != "id"]
    inlines = [PaymentInline]
    change_form_template = "admin/billing/order/change_form.html"

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("story"))
    def story(self, order):
        """From a search by order number, email, phone or ICCID to the customer's whole
        story (esims/admin_actions.py)."""
        return format_html('<a href="{}">{}</a>', reverse(
            "admin:esims_customer_story", args=[order.customer_id]), _("customer"))

    def get_urls(self):
        return [
            path("<int:pk>/refund/", self.admin_site.admin_view(self.refund_view),
                 name="billing_order_refund"),
            path("<int:pk>/retry-activation/", self.admin_site.admin_view(self.retry_view),
                 name="billing_order_retry"),
            *super().get_urls(),
        ]

    def _order_for_action(self, request, pk):
        if not self.has_view_permission(request) or not request.user.has_perm(
                "billing.change_order"):
            raise PermissionDenied
        return get_object_or_404(Order, pk=pk)

    def _back(self, request, order):
        """Where the agent came from (the order's page, or a story page)."""
        return safe_next(request, request.POST.get("next") or request.GET.get("next"),
                         reverse("admin:billing_order_change", args=[order.pk]))

    def refund_view(self, request, pk):
        """Confirm, then refund through the gateway and issue a credit note."""
        order = self._order_for_action(request, pk)
        form = RefundForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                services.order_refund(order_id=order.pk, actor=request.user,
                                      reason=form.cleaned_data["reason"])
            except (services.OrderError, GatewayError, CarrierError) as exc:
                messages.error(request, _("Not refunded: %(error)s") % {"error": exc})
            else:
                messages.success(request, _("Order %(number)s refunded.") % {
                    "number": order.number})
            return redirect(self._back(request, order))
        context = {**self.admin_site.each_context(request), "order": order, "form": form,
                   "opts": self.model._meta, "next": self._back(request, order),
                   "title": _("Refund order %(number)s") % {"number": order.number}}
        return TemplateResponse(request, "admin/billing/order/refund.html", context)

    def retry_view(self, request, pk):
        """Confirm with a reason, then ask for another activation attempt (once, however
        often the form is sent: support/staff.py)."""
        order = self._order_for_action(request, pk)
        kind = StaffAction.Kind.RETRY_ACTIVATION
        form = GuardedReasonForm(request.POST or None, initial={
            "since": staff_action_latest(kind=kind, order=order)})
        if request.method == "POST" and form.is_valid():
            try:
                services.order_activation_retry(
                    order_id=order.pk, actor=request.user, reason=form.cleaned_data["reason"],
                    since=form.cleaned_data["since"])
            except ActionDoneAlready as exc:
                messages.warning(request, str(exc))
            except services.OrderError as exc:
                messages.error(request, str(exc))
            else:
                messages.success(request, _("Activation of %(number)s is being retried.") % {
                    "number": order.number})
            return redirect(self._back(request, order))
        context = {
            **self.admin_site.each_context(request), "opts": self.model._meta,
            "original": order, "form": form, "next": self._back(request, order),
            "title": _("Retry the activation of %(number)s") % {"number": order.number},
            "lead": _("Ask the carrier again to activate order %(number)s (%(status)s)%(why)s.")
            % {"number": order.number, "status": order.get_status_display(),
               "why": f": {order.failure_reason}" if order.failure_reason else ""},
            "points": [_("Each step at the carrier is made once, however often it is asked: "
                         "nothing is applied twice.")],
            "submit": _("Retry now")}
        return TemplateResponse(request, "admin/support/staff_action.html", context)


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = ["order", "gateway", "status", "failure_code", amount, "created_at",
                    "refunded_at", "gateway_reference"]
    list_filter = ["status", "gateway", "failure_code"]
    search_fields = ["order__number", "gateway_reference", "order__customer__email"]
    list_select_related = ["order"]
    readonly_fields = [f.name for f in Payment._meta.fields if f.name != "id"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Receipt)
class ReceiptAdmin(ReadOnlyAdmin):
    list_display = ["number", "order", "customer", total, "issued_at"]
    list_filter = ["year", "currency"]
    search_fields = ["number", "order__number", "customer__email"]
    list_select_related = ["order", "customer"]


@admin.register(CreditNote)
class CreditNoteAdmin(ReadOnlyAdmin):
    list_display = ["number", "receipt", total, "reason", "issued_at"]
    search_fields = ["number", "receipt__number", "receipt__order__number"]
    list_select_related = ["receipt"]


@admin.register(GatewayEvent)
class GatewayEventAdmin(ReadOnlyAdmin):
    list_display = ["event_id", "gateway", "type", "received_at", "processed_at"]
    list_filter = ["gateway", "type"]
    search_fields = ["event_id"]
    date_hierarchy = "received_at"


@admin.register(GatewayCustomer)
class GatewayCustomerAdmin(ReadOnlyAdmin):
    list_display = ["customer", "gateway", "reference", "created_at"]
    list_filter = ["gateway"]
    search_fields = ["customer__email", "reference"]
    list_select_related = ["customer"]


@admin.register(PaymentMethod)
class PaymentMethodAdmin(ReadOnlyAdmin):
    list_display = ["customer", "gateway", "status", "brand", "last4", "exp_month", "exp_year",
                    "saved_at"]
    list_filter = ["status", "gateway"]
    search_fields = ["customer__email", "reference", "setup_reference"]
    list_select_related = ["customer"]
