from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from django.conf import settings
from django.db.models import QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from esims.models import ESim
from plans.selectors import plans_with_price

from .gateways import GatewayUnavailable, get_gateway, simulated_payments_allowed
from .models import (
    CreditNote,
    Order,
    Payment,
    PaymentMethod,
    Receipt,
    SimulatedCard,
    SimulatedCharge,
)

if TYPE_CHECKING:
    from plans.selectors import PricedPlan


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


def order_credit_note(*, order: Order) -> CreditNote | None:
    """The credit note of a refunded order, if it has one."""
    if order.status != Order.Status.REFUNDED:
        return None
    return CreditNote.objects.filter(receipt__order=order).first()


def receipt_get_for_customer(*, customer, number: str) -> Receipt:
    return get_object_or_404(Receipt.objects.select_related("order"), customer=customer,
                             number=number)


def payment_get_for_order(*, order: Order, pk: int) -> Payment:
    return get_object_or_404(Payment, order=order, pk=pk)


def order_last_failed_payment(*, order: Order) -> Payment | None:
    return order.payments.filter(status=Payment.Status.FAILED).order_by("-created_at").first()


def order_payment_awaiting_confirmation(*, order: Order) -> Payment | None:
    """An auto-renewal charge waiting for the customer to confirm it with their bank
    (3-D Secure): paying the order finishes this one rather than opening another."""
    return order.payments.filter(status=Payment.Status.REQUIRES_ACTION,
                                 off_session=True).first()


def topup_plans(*, currency: str) -> list["PricedPlan"]:
    """The top-ups on sale, priced in the currency, smallest first."""
    return list(plans_with_price(currency=currency).filter(is_topup=True)
                .order_by("data_mb", "pk"))


# --- Saved cards ----------------------------------------------------------------------

def payment_gateway_name() -> str | None:
    """The gateway that takes payments and saves cards here, or None when none may (the
    simulated one where simulated payments are not allowed)."""
    try:
        return get_gateway().name
    except GatewayUnavailable:
        return None


def card_usable_for_renewal(card: PaymentMethod | None, *, owner_id: int,
                            gateway: str | None) -> bool:
    """Whether auto-renewal may charge this card for an eSIM of `owner_id`: saved (not
    pending, failed or removed), the owner's own, and saved at `gateway`, the gateway
    that takes payments now. `cards_usable_for_renewal` is the same rule as a query."""
    return (card is not None and card.status == PaymentMethod.Status.ACTIVE
            and card.customer_id == owner_id and gateway is not None
            and card.gateway == gateway)


def cards_usable_for_renewal(*, customer, gateway: str | None) -> QuerySet[PaymentMethod]:
    """The customer's cards `card_usable_for_renewal` accepts, newest first."""
    if gateway is None:
        return PaymentMethod.objects.none()
    return PaymentMethod.objects.filter(customer=customer, gateway=gateway,
                                        status=PaymentMethod.Status.ACTIVE)


def card_get_for_customer(*, customer, pk: int) -> PaymentMethod:
    """Another customer's card is a 404."""
    return get_object_or_404(PaymentMethod, customer=customer, pk=pk)


def payment_get_for_customer(*, customer, gateway: str, reference: str) -> Payment:
    """The customer's payment at `gateway` with this reference, with its order and plan;
    another customer's is a 404."""
    return get_object_or_404(Payment.objects.select_related("order__plan"), gateway=gateway,
                             gateway_reference=reference, order__customer=customer)


def card_get_for_setup(*, customer, reference: str, gateway: str | None = None) -> PaymentMethod:
    """The card the customer is saving under this setup reference (at `gateway`, when
    given); another customer's is a 404."""
    extra = {"gateway": gateway} if gateway is not None else {}
    return get_object_or_404(PaymentMethod, customer=customer, setup_reference=reference,
                             **extra)


# --- The simulated gateway's own pages -------------------------------------------------

def _simulated_payments_only() -> None:
    """The fake bank exists only where simulated payments are allowed."""
    if not simulated_payments_allowed():
        raise Http404("No simulated payments here.")


def simulated_charge_get(*, reference: str) -> SimulatedCharge:
    _simulated_payments_only()
    return get_object_or_404(SimulatedCharge, reference=reference)


def simulated_card_get_for_customer(*, customer, reference: str) -> SimulatedCard:
    """The fake bank's card being saved, only for the customer saving it."""
    _simulated_payments_only()
    card_get_for_setup(customer=customer, reference=reference, gateway="simulated")
    return get_object_or_404(SimulatedCard, reference=reference)


# --- The order page -------------------------------------------------------------------

class StepState(StrEnum):
    DONE = "done"
    CURRENT = "current"
    WAITING = "waiting"
    FAILED = "failed"


@dataclass(frozen=True)
class Step:
    label: str | Promise
    state: StepState
    at: datetime | None = None


def order_steps(order: Order) -> list[Step]:
    """The order's journey as the customer sees it, for the live order page. A refunded
    order shows the steps it got through, then the refund."""
    steps = _order_steps(order)
    if order.status != Order.Status.REFUNDED:
        return steps
    return [*(step for step in steps if step.state == StepState.DONE),
            Step(_("Refunded to the payment method you paid with"), StepState.DONE,
                 order.refunded_at)]


def _order_steps(order: Order) -> list[Step]:
    S = StepState
    esim = order.esim
    failed = order.status == Order.Status.FAILED
    paid = order.paid_at is not None
    activated = order.completed_at is not None
    steps = [Step(_("Order placed"), S.DONE, order.created_at)]
    steps.append(Step(_("Payment received"), S.DONE if paid else S.CURRENT, order.paid_at))
    at_carrier = {Order.Kind.NEW_ESIM: _("Preparing your eSIM at the carrier"),
                  Order.Kind.RENEWAL: _("Adding the plan to your eSIM at the carrier"),
                  Order.Kind.TOPUP: _("Adding the data at the carrier")}[Order.Kind(order.kind)]
    if failed:
        steps.append(Step(at_carrier, S.FAILED, order.failed_at))
        return steps
    steps.append(Step(at_carrier, S.DONE if activated else (S.CURRENT if paid else S.WAITING),
                      order.completed_at))
    if order.kind == Order.Kind.NEW_ESIM:
        installed = esim is not None and esim.installed_at is not None
        steps.append(Step(_("Ready to install"), S.DONE if activated else S.WAITING,
                          esim.ready_at if esim else None))
        steps.append(Step(_("Installed on your device"),
                          S.DONE if installed else (S.CURRENT if activated else S.WAITING),
                          esim.installed_at if esim else None))
        return steps
    if order.kind == Order.Kind.TOPUP:
        steps.append(Step(_("Added to your current plan"), S.DONE if activated else S.WAITING,
                          order.completed_at))
        return steps
    bundle = getattr(order, "bundle", None)
    if bundle is not None and bundle.starts_at is not None:
        steps.append(Step(_("Active on your eSIM"), S.DONE, bundle.starts_at))
    else:
        steps.append(Step(_("Waiting to start after the current plan"),
                          S.DONE if activated else S.WAITING))
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


# --- Cancelling an unused eSIM (docs/refunds.md) ----------------------------------------

def order_self_refund_deadline(order: Order) -> datetime | None:
    """The last moment the customer may cancel the order's eSIM themselves."""
    if order.paid_at is None:
        return None
    return order.paid_at + timedelta(days=settings.SELF_REFUND_DAYS)


def order_self_refund_refusal(order: Order, *, now: datetime,
                              other_plans_paid: bool | None = None) -> str | None:
    """Why the customer may not cancel this order's eSIM and get their money back
    themselves, or None when they may. The one rule the order page, the eSIM's card, the
    confirmation page and `billing.services.order_self_refund` all follow.

    Only a new eSIM's order, paid no more than SELF_REFUND_DAYS ago, whose eSIM is ready
    to install and installed on no device as far as we know, and with no other plan paid
    for on it (a renewal or a top-up, which support refunds). The carrier has the last
    word: cancelOrder refused with "downloaded" refuses the refund too. A refund cut
    short after the profile was withdrawn (the eSIM is cancelled, the money not back
    yet) may always be finished. `other_plans_paid` is given by callers that read it for
    many eSIMs at once (`esims_self_refund_orders`); otherwise it is read here."""
    if order.kind != Order.Kind.NEW_ESIM:
        return gettext("Renewals and top-ups are not refunded here: contact support.")
    if order.status == Order.Status.REFUNDED:
        return gettext("This order is refunded already.")
    deadline = order_self_refund_deadline(order)
    esim = order.esim
    if deadline is None or esim is None:
        return gettext("This order is not paid.")
    if esim.state == ESim.State.CANCELLED and esim.installed_at is None:
        return None  # withdrawn at the carrier already: only the money is left to give back
    if now > deadline:
        return gettext("An unused eSIM can be cancelled only within %(days)s days of "
                       "buying it.") % {"days": settings.SELF_REFUND_DAYS}
    if esim.installed_at is not None or esim.state == ESim.State.INSTALLED:
        return gettext("This eSIM is installed on a device, so it can no longer be "
                       "cancelled.")
    if order.status == Order.Status.FAILED:
        return gettext("Our support team is looking at this order and will refund or fix "
                       "it.")
    if order.status != Order.Status.COMPLETED or esim.state == ESim.State.PROVISIONING:
        return gettext("This eSIM is still being prepared. You can cancel it once it is "
                       "ready to install.")
    if esim.state != ESim.State.READY:
        return gettext("This eSIM can no longer be cancelled.")
    if other_plans_paid is None:
        other_plans_paid = _other_plans_paid(esim_ids=[esim.pk], new_orders=[order.pk])
    if other_plans_paid:
        return gettext("Other plans were bought for this eSIM: contact support to cancel "
                       "it.")
    return None


def _other_plans_paid(*, esim_ids: list[int], new_orders: list[int]) -> bool:
    return (Order.objects.filter(esim_id__in=esim_ids, paid_at__isnull=False)
            .exclude(status=Order.Status.REFUNDED).exclude(pk__in=new_orders).exists())


def esims_self_refund_orders(*, esim_ids: list[int], now: datetime) -> dict[int, Order]:
    """For each of these eSIMs whose customer may cancel it now
    (`order_self_refund_refusal`), its new-eSIM order: one query for them all."""
    if not esim_ids:
        return {}
    paid = list(Order.objects.filter(esim_id__in=esim_ids, paid_at__isnull=False)
                .select_related("esim"))
    unrefunded = Counter(order.esim_id for order in paid
                         if order.status != Order.Status.REFUNDED)
    allowed = {}
    for order in paid:
        if order.kind != Order.Kind.NEW_ESIM or order.esim_id is None:
            continue
        others = unrefunded[order.esim_id] - (order.status != Order.Status.REFUNDED)
        if order_self_refund_refusal(order, now=now, other_plans_paid=others > 0) is None:
            allowed[order.esim_id] = order
    return allowed
