from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from esims.models import ESim

from .models import CreditNote, Order, Payment, Receipt


def order_get_for_customer(*, customer, number: str) -> Order:
    """Another customer's order is a 404."""
    return get_object_or_404(Order.objects.select_related("plan", "esim"),
                             customer=customer, number=number)


def order_list_for_customer(*, customer):
    return Order.objects.filter(customer=customer).select_related("plan", "esim")


def receipt_list_for_customer(*, customer):
    return Receipt.objects.filter(customer=customer).select_related("order", "credit_note")


def credit_note_get_for_customer(*, customer, number: str) -> CreditNote:
    return get_object_or_404(CreditNote.objects.select_related("receipt__order"),
                             receipt__customer=customer, number=number)


def receipt_get_for_customer(*, customer, number: str) -> Receipt:
    return get_object_or_404(Receipt.objects.select_related("order"), customer=customer,
                             number=number)


def payment_get_for_order(*, order: Order, pk: int) -> Payment:
    return get_object_or_404(Payment, order=order, pk=pk)


def order_last_failed_payment(*, order: Order) -> Payment | None:
    return order.payments.filter(status=Payment.Status.FAILED).order_by("-created_at").first()


@dataclass(frozen=True)
class Step:
    label: str
    state: str  # "done", "current", "waiting" or "failed"
    at: datetime | None = None


def order_steps(order: Order) -> list[Step]:
    """The order's journey as the customer sees it, for the live order page."""
    esim = order.esim
    failed = order.status == Order.Status.FAILED
    paid = order.paid_at is not None
    activated = order.completed_at is not None
    steps = [Step(_("Order placed"), "done", order.created_at)]
    steps.append(Step(_("Payment received"), "done" if paid else "current", order.paid_at))
    at_carrier = {Order.Kind.NEW_ESIM: _("Preparing your eSIM at the carrier"),
                  Order.Kind.RENEWAL: _("Adding the plan to your eSIM at the carrier"),
                  Order.Kind.TOPUP: _("Adding the data at the carrier")}[order.kind]
    if failed:
        steps.append(Step(at_carrier, "failed", order.failed_at))
        return steps
    steps.append(Step(at_carrier, "done" if activated else ("current" if paid else "waiting"),
                      order.completed_at))
    if order.kind == Order.Kind.NEW_ESIM:
        installed = esim is not None and esim.installed_at is not None
        steps.append(Step(_("Ready to install"), "done" if activated else "waiting",
                          esim.ready_at if esim else None))
        steps.append(Step(_("Installed on your device"),
                          "done" if installed else ("current" if activated else "waiting"),
                          esim.installed_at if esim else None))
        return steps
    if order.kind == Order.Kind.TOPUP:
        steps.append(Step(_("Added to your current plan"), "done" if activated else "waiting",
                          order.completed_at))
        return steps
    bundle = getattr(order, "bundle", None)
    if bundle is not None and bundle.starts_at is not None:
        steps.append(Step(_("Active on your eSIM"), "done", bundle.starts_at))
    else:
        steps.append(Step(_("Waiting to start after the current plan"),
                          "done" if activated else "waiting"))
    return steps


def order_is_settled(order: Order) -> bool:
    """Nothing more will change on the order page without the customer."""
    if order.status in (Order.Status.FAILED, Order.Status.REFUNDED,
                        Order.Status.PENDING_PAYMENT):
        return True
    if order.kind != Order.Kind.NEW_ESIM:
        return order.status == Order.Status.COMPLETED
    return order.status == Order.Status.COMPLETED and (
        order.esim is None or order.esim.state != ESim.State.READY)


def order_is_slow(order: Order) -> bool:
    if order.status not in (Order.Status.PAID, Order.Status.ACTIVATING) or not order.paid_at:
        return False
    limit = timedelta(minutes=settings.ACTIVATION_SLOW_AFTER_MINUTES)
    return timezone.now() - order.paid_at > limit
