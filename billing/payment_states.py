"""Every move of a Payment, and nothing else (portal/states.py).

    created ──────────────────────────▶ succeeded
       │ └─▶ requires_action ────────────▲    ▲
       │            │                         │ the gateway took the money after all
       └────────────┴──▶ failed ──────────────┘
                           ↺ the same, once its order was paid another way: a duplicate

Each move follows what the gateway says of the charge (`payment_move_for_charge`). A
payment that succeeds when its order is already paid (two tabs, two methods) ends failed
as a DUPLICATE and is given back through the gateway without anyone asking: then
`refunded_at` is set, or, when the gateway will not refund it, the code becomes
DUPLICATE_NOT_REFUNDED for support. A duplicate moves no further, and only a duplicate
is ever refunded here (Payment.Meta.constraints); refunding an order is the order's move
(billing/order_states.py).
"""

import logging
from collections import defaultdict
from datetime import datetime
from typing import NamedTuple

from portal.states import StateMachine, TransitionNotAllowed

from .gateways import ChargeStatus, GatewayCharge
from .models import Payment

log = logging.getLogger(__name__)

S = Payment.Status

PAYMENT = StateMachine("Payment", Payment, initial=(S.CREATED,), table={
    S.CREATED: (S.REQUIRES_ACTION, S.SUCCEEDED, S.FAILED),
    S.REQUIRES_ACTION: (S.SUCCEEDED, S.FAILED),
    S.SUCCEEDED: (),
    # failed → succeeded: a stale tab confirmed it at the gateway after all;
    # failed → failed: the same, once the order was paid another way (a duplicate).
    S.FAILED: (S.SUCCEEDED, S.FAILED),
})

# The failure code of a payment that succeeded after its order was already paid, and of
# one the gateway then would not refund (support refunds it by hand).
DUPLICATE = "paid_twice"
DUPLICATE_NOT_REFUNDED = "paid_twice_refund_refused"
DUPLICATES = (DUPLICATE, DUPLICATE_NOT_REFUNDED)


class PaymentMove(NamedTuple):
    """Where a payment goes; failure fields left None stay as they are."""

    to: str
    failure_code: str | None = None
    failure_message: str | None = None


def payment_move_for_charge(payment: Payment, charge: GatewayCharge, *,
                            order_paid: bool) -> PaymentMove | None:
    """What the gateway's charge means for a payment the caller holds locked: its move,
    or None when there is nothing new. A payment no longer open is never changed again,
    but for money the gateway took after all."""
    late_success = (payment.status == S.FAILED and charge.status == ChargeStatus.SUCCEEDED
                    and payment.failure_code not in DUPLICATES)
    if payment.status not in Payment.OPEN_STATUSES and not late_success:
        return None
    if late_success:
        log.warning("payment %s failed here but succeeded at the gateway", payment.pk)
    if charge.status == ChargeStatus.SUCCEEDED and order_paid:
        log.error("order %s received a second successful payment (%s)",
                  payment.order.number, payment.pk)
        return PaymentMove(S.FAILED, DUPLICATE, "Succeeded after the order was paid: refunded.")
    if charge.status == ChargeStatus.SUCCEEDED:
        return PaymentMove(S.SUCCEEDED)
    if charge.status == ChargeStatus.FAILED:
        code = charge.failure_code or "declined"
        # The gateway's own words, for support; customers see Payment.explanation.
        return PaymentMove(S.FAILED, code, (charge.failure_message or code)[:255])
    if charge.status == ChargeStatus.REQUIRES_ACTION and payment.status != S.REQUIRES_ACTION:
        return PaymentMove(S.REQUIRES_ACTION)
    return None


def payments_move(*, moves: list[tuple[Payment, PaymentMove]], at: datetime) -> None:
    """Make the moves of payments the caller holds locked: one UPDATE per outcome (a
    batch has one or two), which costs far less than a CASE per field and row. Raises
    TransitionNotAllowed, before writing anything, for a move the table does not allow;
    the payments in memory are moved too."""
    outcomes: dict[PaymentMove, list[Payment]] = defaultdict(list)
    for payment, move in moves:
        PAYMENT.check(pk=payment.pk, current=payment.status, to=move.to)
        outcomes[move].append(payment)
    for move, payments in outcomes.items():
        fields = {name: value for name, value in (("failure_code", move.failure_code),
                                                  ("failure_message", move.failure_message))
                  if value is not None}
        ids = [payment.pk for payment in payments]
        moved = PAYMENT.move(_movable().filter(pk__in=ids), to=move.to, updated_at=at,
                             **fields)
        if moved != len(ids):
            _refuse(Payment.objects.filter(pk__in=ids).exclude(status=move.to, updated_at=at),
                    to=move.to)
        for payment in payments:
            payment.status = move.to
            for name, value in fields.items():
                setattr(payment, name, value)


def payment_fail_uncharged(*, payment_id: int, reason: str, at: datetime) -> None:
    """created or requires_action → failed: the gateway refused an off-session charge
    for good before taking it. Raises TransitionNotAllowed when it is no longer open."""
    if not PAYMENT.move(_movable().filter(pk=payment_id, status__in=Payment.OPEN_STATUSES),
                        to=S.FAILED, failure_code="gateway_error",
                        failure_message=reason[:255], updated_at=at):
        _refuse(Payment.objects.filter(pk=payment_id), to=S.FAILED)


def payment_mark_duplicate_refunded(*, payment_id: int, refund_reference: str,
                                    at: datetime) -> bool:
    """A duplicate was given back through the gateway: recorded once. False when it was
    recorded already (the gateway refunds a charge once however often it is asked)."""
    return bool(Payment.objects.filter(pk=payment_id, status=S.FAILED, failure_code=DUPLICATE,
                                       refunded_at__isnull=True)
                .update(refunded_at=at, refund_reference=refund_reference, updated_at=at))


def payment_mark_duplicate_refund_refused(*, payment_id: int, reason: str,
                                          at: datetime) -> bool:
    """The gateway will not give a duplicate back (disputed, say): support takes it
    from here. False when it was refunded or marked already."""
    return bool(Payment.objects.filter(pk=payment_id, status=S.FAILED, failure_code=DUPLICATE,
                                       refunded_at__isnull=True)
                .update(failure_code=DUPLICATE_NOT_REFUNDED, updated_at=at,
                        failure_message=f"Paid twice; the refund was refused: {reason}"[:255]))


def _movable():
    """Payments that may still move: a duplicate is settled but for its refund."""
    return Payment.objects.exclude(failure_code__in=DUPLICATES)


def _refuse(left, *, to: str) -> None:
    """Raise TransitionNotAllowed for the first payment of `left` (rows a move left
    behind: not locked after all, or elsewhere)."""
    pk, status = left.order_by("pk").values_list("pk", "status").first() or (None, None)
    raise TransitionNotAllowed(PAYMENT.name, pk, status, to)
