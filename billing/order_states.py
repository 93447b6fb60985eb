"""Every move of an Order, and nothing else (portal/states.py).

    pending_payment ──pay──▶ paid ──begin──▶ activating ──complete──▶ completed
                              │               │  ↺ one more attempt, or support's retry
                              └─────fail──────┴──▶ failed ──retry (support)──▶ activating
    paid, activating, completed, failed ──refund (support)──▶ refunded

A paid order always ends applied at the carrier (completed) or refunded; failed waits
for support. The database holds the timestamps to the status (Order.Meta.constraints):
every status but pending_payment has paid_at, and completed, failed and refunded have
their own.
"""

from datetime import datetime

from django.db.models import DateTimeField, F, Value
from django.db.models.functions import Coalesce

from portal.states import StateMachine, TransitionNotAllowed

from .models import Order

S = Order.Status

ORDER = StateMachine("Order", Order, initial=(S.PENDING_PAYMENT,), table={
    S.PENDING_PAYMENT: (S.PAID,),
    S.PAID: (S.ACTIVATING, S.FAILED, S.REFUNDED),
    # activating → activating: one more attempt at the carrier, or support's retry.
    S.ACTIVATING: (S.ACTIVATING, S.COMPLETED, S.FAILED, S.REFUNDED),
    S.COMPLETED: (S.REFUNDED,),
    S.FAILED: (S.ACTIVATING, S.REFUNDED),
    S.REFUNDED: (),
})


def orders_mark_paid(*, orders: list[Order], at: datetime) -> None:
    """pending_payment → paid, for orders the caller holds locked, in one UPDATE. Raises
    TransitionNotAllowed if any is not pending (an order fulfilled twice would get two
    eSIMs), and the caller's transaction rolls back."""
    for order in orders:
        ORDER.check(pk=order.pk, current=order.status, to=S.PAID)
    ids = [order.pk for order in orders]
    if ORDER.move(Order.objects.filter(pk__in=ids), to=S.PAID, paid_at=at) != len(ids):
        _refuse(Order.objects.filter(pk__in=ids).exclude(paid_at=at), to=S.PAID)
    for order in orders:
        order.status, order.paid_at = S.PAID, at


def orders_activation_begin(*, order_ids: list[int], at: datetime) -> int:
    """paid → activating, and activating → activating: count one activation attempt of
    each order that is paid or activating, in one UPDATE; returns how many. Any other
    (completed, failed, refunded) is left alone: a failure waits for support's retry."""
    return ORDER.move(
        Order.objects.filter(pk__in=order_ids, status__in=[S.PAID, S.ACTIVATING]),
        to=S.ACTIVATING,
        activation_started_at=Coalesce(F("activation_started_at"),
                                       Value(at, output_field=DateTimeField())),
        activation_attempts=F("activation_attempts") + 1, activation_attempted_at=at)


def orders_complete(*, order_ids: list[int], at: datetime) -> int:
    """activating → completed, in one UPDATE; returns how many moved (an order refunded
    or failed meanwhile stays so)."""
    return ORDER.move(Order.objects.filter(pk__in=order_ids), to=S.COMPLETED, completed_at=at)


def order_fail(*, order_id: int, reason: str, at: datetime) -> None:
    """paid or activating → failed (the carrier refused, or kept failing too long), for
    support to retry or refund. Raises TransitionNotAllowed when the order is elsewhere."""
    ORDER.move_one(order_id, to=S.FAILED, failed_at=at, failure_reason=reason)


def order_activation_retry_mark(*, order: Order) -> None:
    """failed, paid or activating → activating, asked by support, for an order the
    caller holds locked; the failure is cleared. Raises TransitionNotAllowed."""
    ORDER.check(pk=order.pk, current=order.status, to=S.ACTIVATING)
    order.status, order.failed_at, order.failure_reason = S.ACTIVATING, None, ""
    order.save(update_fields=["status", "failed_at", "failure_reason"])


def order_mark_refunded(*, order: Order, at: datetime) -> None:
    """paid, activating, completed or failed → refunded, for an order the caller holds
    locked (the credit note goes in the same transaction). Raises TransitionNotAllowed."""
    ORDER.check(pk=order.pk, current=order.status, to=S.REFUNDED)
    order.status, order.refunded_at = S.REFUNDED, at
    order.save(update_fields=["status", "refunded_at"])


def _refuse(left, *, to: str) -> None:
    """A batch of rows the caller held locked did not all move: one was not locked after
    all. Raises TransitionNotAllowed for it (the caller's transaction rolls back)."""
    pk, status = left.order_by("pk").values_list("pk", "status").first() or (None, None)
    raise TransitionNotAllowed(ORDER.name, pk, status, to)
