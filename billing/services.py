"""Orders, payments and saved cards: what happens around each of their moves (locks,
gateway calls, the eSIM, receipts, messages). The moves themselves, and the tables that
allow them, are in billing/order_states.py, billing/payment_states.py and
billing/card_states.py.

Fulfilment (`payment_sync`) is one idempotent function, locked per order: however many
times a browser return (or, later, a webhook) calls it, an order is paid once and gets
one eSIM and one bundle.
"""

import logging
from contextlib import suppress
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from carrier.client import CarrierError
from esims import selectors as esim_selectors
from esims import services as esim_services
from esims.esim_states import esims_mark_ready
from esims.models import ESim
from notifications.models import Notification
from notifications.requests import notification_request, notifications_request_for_orders
from plans.models import Plan
from portal import audit
from portal.states import TransitionNotAllowed
from support.models import StaffAction
from support.services import staff_action_record
from support.staff import staff_action_guard

from . import selectors
from .card_states import card_mark_failed, card_mark_removed, card_mark_saved
from .gateways import GatewayError, get_gateway
from .models import Order, Payment, PaymentMethod
from .order_states import (
    order_activation_retry_mark,
    order_fail,
    order_mark_refunded,
    orders_activation_begin,
    orders_complete,
    orders_mark_paid,
)
from .payment_states import (
    DUPLICATE,
    PaymentMove,
    payment_fail_uncharged,
    payment_mark_duplicate_refund_refused,
    payment_mark_duplicate_refunded,
    payment_move_for_charge,
    payments_move,
)
from .receipts import credit_note_issue, receipts_issue

if TYPE_CHECKING:
    from plans.selectors import PricedPlan

log = logging.getLogger(__name__)

# A started payment is reused (not started again) for this long: a double-clicked
# "Pay" must not open two charges.
PAYMENT_REUSE_MINUTES = 30


class OrderError(Exception):
    """A customer-facing reason why an order cannot move on."""


def order_create_new_esim(*, customer, plan: Plan, currency: str, amount_minor: int,
                          nickname: str, idempotency_key: str) -> Order:
    """Create an order for a new eSIM, or return the one this key already created."""
    return _order_create(customer=customer, idempotency_key=idempotency_key,
                         kind=Order.Kind.NEW_ESIM, plan=plan, nickname=nickname,
                         currency=currency, amount_minor=amount_minor)


def order_create_renewal(*, customer, esim, plan: Plan, currency: str, amount_minor: int,
                         idempotency_key: str) -> Order:
    """Create an order adding a plan to one of the customer's eSIMs (or return the one
    this key already created)."""
    if esim.owner_id != customer.pk:
        raise OrderError(_("This eSIM is not on your account."))
    if not esim.can_renew:
        raise OrderError(_("This eSIM cannot take a new plan in its current state."))
    if plan.is_topup:
        raise OrderError(_("Choose a plan, not a top-up."))
    return _order_create(customer=customer, idempotency_key=idempotency_key,
                         kind=Order.Kind.RENEWAL, plan=plan, esim=esim, nickname=esim.nickname,
                         currency=currency, amount_minor=amount_minor)


def order_create_topup(*, customer, esim, plan: Plan, currency: str, amount_minor: int,
                       idempotency_key: str) -> Order:
    """Create an order adding data to the eSIM's running plan (or return the one this key
    already created)."""
    if esim.owner_id != customer.pk:
        raise OrderError(_("This eSIM is not on your account."))
    if not plan.is_topup:
        raise OrderError(_("Choose a top-up."))
    if esim_selectors.esim_topup_target(esim=esim) is None:
        raise OrderError(_("A top-up adds data to a running plan, and this eSIM has none."))
    return _order_create(customer=customer, idempotency_key=idempotency_key,
                         kind=Order.Kind.TOPUP, plan=plan, esim=esim, nickname=esim.nickname,
                         currency=currency, amount_minor=amount_minor)


def _order_create(*, customer, idempotency_key: str, **fields) -> Order:
    existing = Order.objects.filter(customer=customer, idempotency_key=idempotency_key).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return Order.objects.create(customer=customer, idempotency_key=idempotency_key,
                                        **fields)
    except IntegrityError:
        # The same form submitted twice at the same moment: the other request won.
        return Order.objects.get(customer=customer, idempotency_key=idempotency_key)


def payment_start(*, order: Order, return_url_for) -> Payment:
    """Open a payment for the order at the gateway, or reuse the one already open.

    The Payment row is written and committed under the order's lock, and the gateway is
    called only after the lock is released (a gateway takes seconds, and the lock would
    hold every other request for the order meanwhile). The call carries the row's
    idempotency key, so a double-clicked "Pay" that reaches the gateway twice for the
    same row gets the same charge, and only the first reference is kept."""
    gateway = get_gateway()
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        if order.status != Order.Status.PENDING_PAYMENT:
            raise OrderError(_("This order is already paid."))
        # An auto-renewal charge waiting for the customer's bank is finished, not doubled.
        payment = selectors.order_payment_awaiting_confirmation(order=order)
        recent = timezone.now() - timedelta(minutes=PAYMENT_REUSE_MINUTES)
        payment = payment or (
            order.payments.filter(status__in=Payment.OPEN_STATUSES, gateway=gateway.name,
                                  created_at__gte=recent, off_session=False)
            .order_by("-pk").first())
        if payment is None:
            payment = Payment.objects.create(order=order, gateway=gateway.name,
                                             amount_minor=order.amount_minor,
                                             currency=order.currency)
    if payment.gateway_reference:
        return payment
    charge = gateway.charge_start(payment=payment,
                                  description=f"{order.number} · {order.plan.name}",
                                  return_url=return_url_for(payment))
    Payment.objects.filter(pk=payment.pk, gateway_reference="").update(
        gateway_reference=charge.reference, updated_at=timezone.now())
    return Payment.objects.get(pk=payment.pk)


def payment_customer_url(*, payment: Payment) -> str:
    return get_gateway(payment.gateway).charge_customer_url(reference=payment.gateway_reference)


def payment_sync(*, payment_id: int) -> Payment:
    """Ask the gateway what became of a payment and act on it, exactly once."""
    payment = Payment.objects.get(pk=payment_id)
    if not payment.gateway_reference:
        return payment  # an off-session charge not made yet: its own run finishes it
    charge = get_gateway(payment.gateway).charge_retrieve(reference=payment.gateway_reference)
    return _payment_record(payment_id=payment_id, charge=charge)


def _payment_record(*, payment_id: int, charge) -> Payment:
    return _payments_record(charges={payment_id: charge})[payment_id]


def _payments_record(*, charges: dict) -> dict[int, Payment]:
    """Take in what the gateway says of each charge (by payment id), once: the orders are
    locked (in id order, so that two callers never deadlock), and a payment that is no
    longer open is never changed again. The orders paid here are fulfilled together."""
    with transaction.atomic():
        order_ids = sorted(set(Payment.objects.filter(pk__in=charges)
                               .values_list("order_id", flat=True)))
        orders = {order.pk: order for order in (
            Order.objects.select_for_update(of=("self",))
            .select_related("customer", "plan", "esim").filter(pk__in=order_ids).order_by("pk"))}
        payments = {payment.pk: payment for payment in (
            Payment.objects.select_for_update().filter(pk__in=charges).order_by("pk"))}
        referenced: list[Payment] = []
        moves: list[tuple[Payment, PaymentMove]] = []
        paid: list[tuple[Order, Payment]] = []
        for payment in payments.values():
            payment.order = order = orders[payment.order_id]
            charge = charges[payment.pk]
            if not payment.gateway_reference and charge.reference:
                payment.gateway_reference = charge.reference
                referenced.append(payment)
            move = payment_move_for_charge(payment, charge, order_paid=order.paid_at is not None
                                           or any(o is order for o, _p in paid))
            if move is not None:
                moves.append((payment, move))
                if move.to == Payment.Status.SUCCEEDED:
                    paid.append((order, payment))
        _payments_save(referenced=referenced, moves=moves)
        if paid:
            _orders_mark_paid(paid=paid)
        duplicates = [p.pk for p, move in moves if move.failure_code == DUPLICATE]
        if duplicates:
            transaction.on_commit(lambda: _enqueue_duplicate_refunds(duplicates))
    return payments


def _enqueue_duplicate_refunds(payment_ids: list[int]) -> None:
    from .tasks import payment_refund_duplicate

    for payment_id in payment_ids:
        payment_refund_duplicate.delay(payment_id)


def payment_refund_duplicate(*, payment_id: int) -> Payment:
    """Give back a payment that succeeded after its order was already paid (two tabs, two
    methods), and tell the customer. The gateway refunds a payment once however often it
    is asked, and the refund is recorded here once: safe to repeat and to race."""
    payment = Payment.objects.get(pk=payment_id)
    if payment.failure_code != DUPLICATE or payment.refunded_at is not None:
        return payment
    try:
        reference = get_gateway(payment.gateway).charge_refund(
            reference=payment.gateway_reference, amount_minor=payment.amount_minor,
            idempotency_key=payment_refund_key(payment))
    except GatewayError as exc:
        if exc.retryable:
            raise
        # The gateway will not refund it (disputed, say): support takes it from here.
        log.error("duplicate payment %s could not be refunded: %s", payment.pk, exc)
        payment_mark_duplicate_refund_refused(payment_id=payment_id, reason=str(exc),
                                              at=timezone.now())
        return Payment.objects.get(pk=payment_id)
    with transaction.atomic():
        if payment_mark_duplicate_refunded(payment_id=payment_id, refund_reference=reference,
                                           at=timezone.now()):
            payment = Payment.objects.select_related("order__customer").get(pk=payment_id)
            notification_request(kind=Notification.Kind.DUPLICATE_REFUNDED, payment=payment)
            log.warning("order %s: duplicate payment %s refunded (%s)", payment.order.number,
                        payment.pk, reference)
    return Payment.objects.get(pk=payment_id)


def payment_list_duplicates_to_refund(*, quiet_for: timedelta, limit: int = 500) -> list[int]:
    """Duplicate payments not given back yet whose refund task was lost or failed."""
    return list(Payment.objects.filter(failure_code=DUPLICATE, refunded_at__isnull=True,
                                       updated_at__lt=timezone.now() - quiet_for)
                .order_by("updated_at").values_list("pk", flat=True)[:limit])


def _payments_save(*, referenced: list[Payment],
                   moves: list[tuple[Payment, PaymentMove]]) -> None:
    """Write what the gateway's answers changed, for payments held locked: the new
    references in one statement, the moves in one per outcome (payments_move)."""
    Payment.objects.bulk_update(referenced, ["gateway_reference"])
    payments_move(moves=moves, at=timezone.now())


# A claim to call the gateway for an off-session payment older than this belongs to a
# worker that died mid-call; the next run takes it over with the same idempotency key.
CHARGE_CLAIM_TIMEOUT = timedelta(minutes=5)


class ChargeInProgress(Exception):
    """Another run is calling the gateway for this payment right now."""


def order_charge_saved_card(*, order_id: int, payment_method_id: int,
                            attempts_allowed: int) -> Payment | None:
    """Collect a pending order's money from a saved card without the customer.

    The Payment row is written (and committed) before the gateway is called, and the
    call carries the row's idempotency key, so a run repeated after a crash or a timeout
    finds the same row and gets the same charge back: nothing is charged twice. Under
    the order's lock, a new attempt is made only when no payment is still open and fewer
    than `attempts_allowed` were made; a payment waiting for the customer's bank
    (3-D Secure) is only ever looked at again, never charged again. A payment the
    customer opened on the pay page is theirs to finish or leave: it is neither an
    attempt nor an open charge here (were both to succeed, the second is refunded as
    paid twice).
    Returns the payment this run dealt with (None when nothing was due); raises
    ChargeInProgress when another run holds it, GatewayError when the gateway failed
    (`retryable` says whether to try again with the same payment).
    """
    now = timezone.now()
    with transaction.atomic():
        order = (Order.objects.select_for_update(of=("self",)).select_related("plan")
                 .get(pk=order_id))
        if order.status != Order.Status.PENDING_PAYMENT:
            return order.payments.filter(status=Payment.Status.SUCCEEDED).first()
        attempts = list(order.payments.filter(off_session=True))
        payment = next((p for p in attempts if p.status in Payment.OPEN_STATUSES), None)
        if payment is None:
            if len(attempts) >= attempts_allowed:
                return None
            card = PaymentMethod.objects.get(pk=payment_method_id)
            if not selectors.card_usable_for_renewal(
                    card, owner_id=order.customer_id, gateway=selectors.payment_gateway_name()):
                raise GatewayError(f"card {card.pk} cannot be charged for order {order.number}")
            # Claimed by this run from the start: no other run calls the gateway for it.
            payment = Payment.objects.create(
                order=order, gateway=card.gateway, amount_minor=order.amount_minor,
                currency=order.currency, off_session=True, payment_method=card,
                charge_claimed_at=now)
        elif payment.gateway_reference:
            pass
        elif not (Payment.objects.filter(pk=payment.pk, gateway_reference="")
                  .filter(Q(charge_claimed_at__isnull=True)
                          | Q(charge_claimed_at__lt=now - CHARGE_CLAIM_TIMEOUT))
                  .update(charge_claimed_at=now)):
            raise ChargeInProgress(f"payment {payment.pk} is being charged by another run")
        else:
            payment.order = order
    if payment.gateway_reference:
        return payment_sync(payment_id=payment.pk)  # charged already: ask how it went
    return _payment_record(payment_id=payment.pk,
                           charge=_charge_claimed(payment=payment, claimed_at=now))


def _charge_claimed(*, payment: Payment, claimed_at):
    """Call the gateway for an off-session payment this run has claimed, with the
    payment's idempotency key. A failure that may pass frees the claim, so that the next
    try goes at once (with the same key); any other failure ends the payment."""
    card = payment.payment_method
    if card is None:  # every off-session payment is written with its card
        raise ValueError(f"payment {payment.pk} has no saved card to charge off-session")
    try:
        return get_gateway(payment.gateway).charge_off_session(
            payment=payment, card_reference=card.reference,
            description=f"{payment.order.number} · {payment.order.plan.name}")
    except GatewayError as exc:
        if exc.retryable:
            Payment.objects.filter(pk=payment.pk, charge_claimed_at=claimed_at).update(
                charge_claimed_at=None)
        else:
            try:
                payment_fail_uncharged(payment_id=payment.pk, reason=str(exc),
                                       at=timezone.now())
            except TransitionNotAllowed as moved:
                log.warning("payment %s settled meanwhile: %s", payment.pk, moved)
        raise


@dataclass(frozen=True)
class RenewalCharge:
    """One auto-renewal to order and charge: the plan carries `price_minor` in the
    customer's currency; the key names the renewal cycle."""

    esim: ESim
    plan: "PricedPlan"
    card: PaymentMethod
    idempotency_key: str


def renewal_orders_charge(
        *, renewals: list[RenewalCharge]) -> dict[int, Payment | GatewayError | None]:
    """Order and charge many auto-renewals as a set: what `order_create_renewal` and then
    `order_charge_saved_card` do one at a time, in a few statements for the lot.

    The orders and their payment rows (claimed by this run) are written and committed
    together before the gateway is called, each call carrying its payment's idempotency
    key; the gateway's answers are then taken in, and the paid orders fulfilled, in one
    transaction. Returns each eSIM's payment, or the GatewayError its call raised, or
    None when another run took its charge over meanwhile. eSIMs left out of the answer
    were not touched: a renewal that cannot be ordered as given, or a key already used
    (an order exists for the cycle, or another run made it meanwhile), is for the
    one-at-a-time path, which knows what to do next.
    """
    gateway = selectors.payment_gateway_name()
    fit = [r for r in renewals
           if r.esim.can_renew and not r.plan.is_topup
           and selectors.card_usable_for_renewal(r.card, owner_id=r.esim.owner_id,
                                                 gateway=gateway)]
    if not fit:
        return {}
    now = timezone.now()
    try:
        with transaction.atomic():
            orders = Order.objects.bulk_create([
                Order(customer=r.esim.owner, idempotency_key=r.idempotency_key,
                      kind=Order.Kind.RENEWAL, plan=r.plan, esim=r.esim,
                      nickname=r.esim.nickname, currency=r.esim.owner.currency,
                      amount_minor=r.plan.price_minor) for r in fit])
            # Claimed by this run from the start: no other run calls the gateway for them.
            payments = Payment.objects.bulk_create([
                Payment(order=order, gateway=r.card.gateway, amount_minor=order.amount_minor,
                        currency=order.currency, off_session=True, payment_method=r.card,
                        charge_claimed_at=now) for order, r in zip(orders, fit, strict=True)])
    except IntegrityError:
        return {}  # a cycle was ordered meanwhile: every one goes the careful way
    outcome: dict[int, Payment | GatewayError | None] = {}
    charges = {}
    claimed_at, ours = now, {payment.pk for payment in payments}
    for index, (payment, r) in enumerate(zip(payments, fit, strict=True)):
        if timezone.now() - claimed_at > CHARGE_CLAIM_TIMEOUT / 5:
            # A slow gateway: renew the claims of the payments still to call, so they do
            # not look abandoned; any another run has taken over meanwhile is theirs now.
            previous, claimed_at = claimed_at, timezone.now()
            waiting = [p.pk for p in payments[index:]]
            Payment.objects.filter(pk__in=waiting, charge_claimed_at=previous).update(
                charge_claimed_at=claimed_at)
            ours = set(Payment.objects.filter(pk__in=waiting, charge_claimed_at=claimed_at)
                       .values_list("pk", flat=True))
        if payment.pk not in ours:
            continue
        try:
            charges[payment.pk] = _charge_claimed(payment=payment, claimed_at=claimed_at)
        except GatewayError as exc:
            outcome[r.esim.pk] = exc
    recorded = _payments_record(charges=charges) if charges else {}
    for payment, r in zip(payments, fit, strict=True):
        outcome.setdefault(r.esim.pk, recorded.get(payment.pk))
    return outcome


def card_setup_start(*, customer, cancel_url: str) -> PaymentMethod:
    """Start saving a card at the gateway. The customer enters it on the gateway's page,
    which sends them to `billing:card_setup_return` (or back to `cancel_url`)."""
    gateway = get_gateway()
    reference = gateway.card_setup_start(customer=customer, return_url=cancel_url)
    return PaymentMethod.objects.create(customer=customer, gateway=gateway.name,
                                        setup_reference=reference)


def card_setup_customer_url(*, payment_method: PaymentMethod) -> str:
    return get_gateway(payment_method.gateway).card_setup_customer_url(
        reference=payment_method.setup_reference)


def card_setup_finish(*, payment_method_id: int) -> PaymentMethod:
    """Ask the gateway whether the card was saved and record it once. Called from the
    customer's return and from the gateway's webhook; either order, any number of times."""
    method = PaymentMethod.objects.get(pk=payment_method_id)
    if method.status != PaymentMethod.Status.PENDING:
        return method
    try:
        saved = get_gateway(method.gateway).card_setup_retrieve(
            reference=method.setup_reference)
    except GatewayError as exc:
        if exc.retryable:
            raise
        # Recorded meanwhile by the other caller (the return or the webhook), or removed
        # by the customer: what is recorded stands.
        with suppress(TransitionNotAllowed):
            card_mark_failed(payment_method_id=method.pk)
        return PaymentMethod.objects.get(pk=method.pk)
    if saved is not None:
        with suppress(TransitionNotAllowed):  # the same
            card_mark_saved(payment_method_id=method.pk, saved=saved, at=timezone.now())
    return PaymentMethod.objects.get(pk=method.pk)


def card_remove(*, payment_method_id: int) -> PaymentMethod:
    """Remove a saved card: at once here (it is never charged again), then at the
    gateway. A card that pays an eSIM's auto-renewal is refused: choose another card
    there, or switch auto-renewal off, first."""
    with transaction.atomic():
        method = PaymentMethod.objects.select_for_update().get(pk=payment_method_id)
        if method.status == PaymentMethod.Status.REMOVED:
            return method
        in_use = (ESim.objects.filter(auto_renew=True, renewal_payment_method=method)
                  .values_list("nickname", flat=True).first())
        if in_use is not None:
            raise OrderError(_("This card pays the auto-renewal of “%(name)s”. Choose "
                               "another card there or switch auto-renewal off first.")
                             % {"name": in_use})
        card_mark_removed(method=method)
    if method.reference:
        try:
            get_gateway(method.gateway).card_remove(reference=method.reference)
        except GatewayError as exc:  # removed here already; the gateway can be told later
            log.error("saved card %s not removed at the gateway: %s", method.pk, exc)
    return method


def payment_claim_for_reconciliation(*, quiet_for: timedelta, give_up_after: timedelta,
                                     limit: int = 500) -> list[int]:
    """Open payments nobody has asked the gateway about for a while: the customer paid
    and never came back, or the return request died. Each is claimed with a conditional
    update, so sweeps running side by side never ask twice."""
    now = timezone.now()
    quiet = now - quiet_for
    candidates = (Payment.objects.filter(status__in=Payment.OPEN_STATUSES,
                                         created_at__lt=quiet,
                                         created_at__gt=now - give_up_after)
                  .exclude(gateway_reference="")
                  .filter(Q(checked_at__lt=quiet) | Q(checked_at__isnull=True))
                  .order_by("created_at").values_list("pk", "checked_at")[:limit])
    return [pk for pk, checked in candidates
            if Payment.objects.filter(pk=pk, checked_at=checked).update(checked_at=now)]


def _orders_mark_paid(*, paid: list[tuple[Order, Payment]]) -> None:
    """Called with the orders locked, once their money is in: each gets its eSIM or its
    bundle, its message and its receipt, and goes to the carrier after the commit."""
    orders = [order for order, _payment in paid]
    orders_mark_paid(orders=orders, at=timezone.now())
    for order in orders:
        if order.kind == Order.Kind.NEW_ESIM:
            order.esim = esim_services.esim_create_for_order(order=order)
            order.save(update_fields=["esim"])
    renewals = [order for order in orders if order.kind == Order.Kind.RENEWAL]
    esim_services.bundles_create_for_orders(orders=renewals)
    esim_services.esims_renewal_settled(esim_ids=[_order_esim_id(order) for order in renewals])
    notifications_request_for_orders(kind=Notification.Kind.ORDER_PAID, orders=orders)
    # Last: the receipt counter stays locked until this transaction commits, so every
    # other order being paid waits for it; hold it for as short a time as possible.
    receipts_issue(paid=paid)
    order_ids = [order.pk for order in orders]
    transaction.on_commit(lambda: _enqueue_activation(order_ids))


def _order_esim(order: Order) -> ESim:
    """The eSIM of a renewal or a top-up (ordered for one: order_create_renewal,
    order_create_topup, renewal_orders_charge), or of any paid order (a new eSIM's order
    gets its eSIM in the transaction that pays it: _orders_mark_paid)."""
    assert order.esim is not None, f"order {order.number} ({order.kind}) has no eSIM"
    return order.esim


def _order_esim_id(order: Order) -> int:
    """`_order_esim(order).pk`, without loading the eSIM."""
    assert order.esim_id is not None, f"order {order.number} ({order.kind}) has no eSIM"
    return order.esim_id


# Orders handed to one activation task.
ACTIVATION_BATCH = 100


def _enqueue_activation(order_ids: list[int]) -> None:
    from .tasks import order_activate, orders_activate

    if len(order_ids) == 1:
        order_activate.delay(order_ids[0])
        return
    for start in range(0, len(order_ids), ACTIVATION_BATCH):
        orders_activate.delay(order_ids[start:start + ACTIVATION_BATCH])


def order_activate(*, order_id: int) -> Order:
    """Provision the order's eSIM and apply its bundle at the carrier.

    Safe to run any number of times, side by side: each carrier step is deduplicated by
    the carrier and its result saved only once. Raises CarrierError when the carrier does
    not cooperate; the task decides whether to try again.
    """
    if _orders_activation_begin(order_ids=[order_id]):
        order = Order.objects.select_related("esim", "plan").get(pk=order_id)
        if order.kind == Order.Kind.TOPUP:
            esim_services.topup_apply_at_carrier(esim=_order_esim(order),
                                                 reference=order.number, plan=order.plan)
        else:
            esim = esim_services.esim_provision(esim=_order_esim(order),
                                                call_prefix=order.number)
            bundle = order.bundle
            bundle.esim = esim
            esim_services.bundle_apply_at_carrier(bundle=bundle)
        _orders_complete(order_ids=[order_id])
    return Order.objects.get(pk=order_id)


def orders_activate(*, order_ids: list[int]) -> dict[int, CarrierError | None]:
    """`order_activate` for many orders: the usual auto-renewal (a bundle for an eSIM the
    carrier has already provisioned) as a set, anything else one at a time. Returns, per
    order, None or the CarrierError that stopped it."""
    orders = list(Order.objects.select_related("esim", "bundle").filter(pk__in=order_ids))
    simple = [order for order in orders if order.kind == Order.Kind.RENEWAL
              and _order_esim(order).iccid and _order_esim(order).matching_id]
    simple_ids = {order.pk for order in simple}
    outcome: dict[int, CarrierError | None] = {}
    for order in orders:
        if order.pk not in simple_ids:
            try:
                order_activate(order_id=order.pk)
                outcome[order.pk] = None
            except CarrierError as exc:
                outcome[order.pk] = exc
    started = set(_orders_activation_begin(order_ids=[order.pk for order in simple]))
    bundles = {}
    for order in simple:
        if order.pk in started:
            bundles[order.pk] = order.bundle
            order.bundle.esim = _order_esim(order)
    applied = esim_services.bundles_apply_at_carrier(bundles=list(bundles.values()))
    for order_id, bundle in bundles.items():
        outcome[order_id] = applied[bundle.pk]
    _orders_complete(order_ids=[order_id for order_id, error in outcome.items()
                                if error is None and order_id in bundles])
    return outcome


def _orders_activation_begin(*, order_ids: list[int]) -> list[int]:
    """Count an activation attempt of each order that is paid or activating; returns
    those (any other is done, failed or refunded: nothing to do)."""
    now = timezone.now()
    orders_activation_begin(order_ids=order_ids, at=now)
    return list(Order.objects.filter(pk__in=order_ids, status=Order.Status.ACTIVATING,
                                     activation_attempted_at=now)
                .values_list("pk", flat=True))


def _orders_complete(*, order_ids: list[int]) -> None:
    """Everything the orders bought is at the carrier: complete each one still activating
    (a refund or a failure recorded meanwhile stands), and tell of new eSIMs."""
    if not order_ids:
        return
    with transaction.atomic():
        orders = list(Order.objects.select_for_update().filter(
            pk__in=order_ids, status=Order.Status.ACTIVATING).order_by("pk"))
        orders_complete(order_ids=[order.pk for order in orders], at=timezone.now())
        esims_mark_ready(esim_ids=[_order_esim_id(order) for order in orders])
        new = [order for order in orders if order.kind == Order.Kind.NEW_ESIM]
        if new:
            notifications_request_for_orders(kind=Notification.Kind.ESIM_READY, orders=new)


def order_activation_overdue(*, order_id: int) -> bool:
    limit = timedelta(hours=settings.ACTIVATION_GIVE_UP_AFTER_HOURS)
    return Order.objects.filter(pk=order_id, paid_at__lt=timezone.now() - limit).exists()


def order_activation_setback(*, order_id: int, error: CarrierError) -> bool:
    """What an activation the carrier did not take means: True when trying again can
    help (the carrier busy or unreachable, and the order not overdue); otherwise the
    order is failed for support now, and False. A refusal fails fast: retrying a wrong
    URL or an unknown ICCID for two days helps nobody."""
    if error.retryable and not order_activation_overdue(order_id=order_id):
        log.info("order %s: carrier not ready (%s), retrying", order_id, error)
        return True
    order_activation_fail(order_id=order_id, error=error)
    return False


def order_activation_run(*, order_id: int) -> None:
    """`order_activate`, with a carrier failure settled by `order_activation_setback`:
    raises the CarrierError only when a retry can help."""
    try:
        order_activate(order_id=order_id)
    except CarrierError as exc:
        if order_activation_setback(order_id=order_id, error=exc):
            raise


def order_activation_fail(*, order_id: int, error: CarrierError) -> Order:
    """The carrier refused, or kept failing past the limit: flag the order for support.
    An order completed, refunded or failed meanwhile stays as it is."""
    try:
        order_fail(order_id=order_id, at=timezone.now(),
                   reason=f"[{error.code}] {error}" if error.code else str(error))
    except TransitionNotAllowed:
        return Order.objects.get(pk=order_id)
    order = Order.objects.get(pk=order_id)
    log.error("order %s activation failed: %s", order.number, error)
    return order


def order_activation_claim_stalled(*, older_than: timedelta, limit: int = 500) -> list[int]:
    """Paid orders whose activation has not been tried for a while (a lost task, a dead
    worker): claim each with a conditional update so that two sweeps never both take it."""
    now = timezone.now()
    cutoff = now - older_than
    stalled = (Order.objects.filter(status__in=[Order.Status.PAID, Order.Status.ACTIVATING])
               .filter(Q(activation_attempted_at__lt=cutoff)
                       | Q(activation_attempted_at__isnull=True, paid_at__lt=cutoff))
               .values_list("pk", "activation_attempted_at")[:limit])
    claimed = []
    for pk, attempted in stalled:
        if Order.objects.filter(pk=pk, activation_attempted_at=attempted).update(
                activation_attempted_at=now):
            claimed.append(pk)
    return claimed


# A refund claimed longer ago than this belongs to a run that died (between the gateway
# and the commit, say): the next attempt takes it over. The gateway's refund is keyed on
# the order (`order_refund_key`), so taking it over never refunds twice.
REFUND_CLAIM_TIMEOUT = timedelta(minutes=5)

# Recorded (in English) on the credit note and in the staff actions when the customer
# cancels; marked for translation so the credit note prints it in the reader's language.
SELF_REFUND_REASON = gettext_noop("Cancelled by the customer")


class RefundInProgress(OrderError):
    """Another request is refunding this order right now."""


def order_refund_key(order: Order) -> str:
    """The gateway's idempotency key for refunding an order: one refund per order."""
    return f"esim-portal-order-{order.pk}-refund"


def payment_refund_key(payment: Payment) -> str:
    """The key for giving back a payment taken twice (not the order's own refund)."""
    return f"{payment.idempotency_key}-refund"


def order_self_refund(*, order_id: int, customer) -> Order:
    """The customer cancels their unused new eSIM and gets their money back on the
    payment method they paid with: `order_refund` as the customer, if
    `selectors.order_self_refund_refusal` allows it (its reason is raised as an
    OrderError otherwise), and only if the carrier withdraws the profile."""
    return order_refund(order_id=order_id, actor=customer, reason=SELF_REFUND_REASON,
                        by_customer=True)


def order_refund(*, order_id: int, actor, reason: str, by_customer: bool = False) -> Order:
    """Refund a paid order in full, exactly once: withdraw what it applied at the
    carrier, refund the payment at the gateway, then (in one transaction) mark it
    refunded, issue the credit note and record who did it and why.

    The order is claimed first (`refund_requested_at`, a conditional update): a second
    click or a second agent while a refund runs gets RefundInProgress and starts nothing;
    a claim older than REFUND_CLAIM_TIMEOUT is taken over, so a refund cut short is
    finished by asking again, and the gateway's refund, keyed on the order, is the same
    one. A new eSIM's profile is withdrawn (ES2+ cancelOrder) before its bundle is
    revoked and before any money moves. When a device has downloaded it, support's
    refund goes on (the profile stays on the device, its plan is revoked), while the
    customer's (`by_customer`, `order_self_refund`) is refused and changes nothing. A
    refusal or a failure of the carrier or the gateway is recorded on the order
    (`refund_failed_at`, `refund_failure`: support's queue), the claim is released and
    the error raised; a refund that succeeds clears them."""
    order = Order.objects.select_related("esim").get(pk=order_id)
    if order.status == Order.Status.REFUNDED:
        return order
    if order.paid_at is None:
        raise OrderError(_("This order was never paid."))
    if by_customer and order.customer_id != actor.pk:
        raise OrderError(_("This order is not on your account."))
    claimed_at = timezone.now()
    claimed = audit.update_recorded(
        Order.objects.filter(pk=order_id).exclude(status=Order.Status.REFUNDED)
        .filter(Q(refund_requested_at__isnull=True)
                | Q(refund_requested_at__lt=claimed_at - REFUND_CLAIM_TIMEOUT)),
        values={"refund_requested_at": claimed_at})
    if not claimed:
        order = Order.objects.select_related("esim").get(pk=order_id)
        if order.status == Order.Status.REFUNDED:
            return order
        raise RefundInProgress(_("This order is already being refunded."))
    try:
        order = Order.objects.select_related("esim").get(pk=order_id)
        if by_customer:
            refusal = selectors.order_self_refund_refusal(order, now=claimed_at)
            if refusal is not None:
                raise OrderError(refusal)
        payment = order.payments.get(status=Payment.Status.SUCCEEDED)
        _order_withdraw_at_carrier(order, by_customer=by_customer)
        refund_reference = get_gateway(payment.gateway).charge_refund(
            reference=payment.gateway_reference, amount_minor=payment.amount_minor,
            idempotency_key=order_refund_key(order))
    except OrderError:
        # Refused before anything moved: as if never asked.
        audit.update_recorded(Order.objects.filter(pk=order_id, refund_requested_at=claimed_at),
                              values={"refund_requested_at": None})
        raise
    except (CarrierError, GatewayError) as exc:
        log.error("order %s not refunded: %s", order.number, exc)
        audit.update_recorded(
            Order.objects.filter(pk=order_id, refund_requested_at=claimed_at),
            values={"refund_requested_at": None, "refund_failed_at": timezone.now(),
                    "refund_failure": str(exc)[:255]})
        raise
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        if order.status == Order.Status.REFUNDED:
            return order
        now = timezone.now()
        order_mark_refunded(order=order, at=now)
        audit.update_recorded(Order.objects.filter(pk=order_id),
                              values={"refund_failed_at": None, "refund_failure": ""})
        note = credit_note_issue(receipt=order.receipt, reason=reason,
                                 refund_reference=refund_reference, at=now)
        staff_action_record(actor=actor, kind=StaffAction.Kind.SELF_REFUND if by_customer
                            else StaffAction.Kind.REFUND, order=order, esim=order.esim,
                            note=reason, outcome=note.number)
    return Order.objects.select_related("esim").get(pk=order_id)


def _order_withdraw_at_carrier(order: Order, *, by_customer: bool) -> None:
    """Take back at the carrier what the order applied, so nothing runs unpaid. A new
    eSIM's profile first: cancelOrder is what says whether it is on a device, and a
    bundle revoked before it could expire the eSIM (the carrier's report of the revoked
    bundle) and leave the profile released."""
    if order.kind == Order.Kind.TOPUP:
        if order.completed_at is not None:
            esim_services.topup_revoke(esim=_order_esim(order), reference=order.number)
        return
    if order.kind == Order.Kind.NEW_ESIM:
        try:
            esim_services.esim_cancel_unused(esim=_order_esim(order), call_prefix=order.number)
        except esim_services.ProfileDownloaded:
            if by_customer:
                raise OrderError(_("This eSIM has been downloaded to a device, so it can no "
                                   "longer be cancelled. Nothing was changed.")) from None
            # Support refunds it all the same: the profile stays on the device, its plan
            # is revoked below.
    esim_services.bundle_revoke(bundle=order.bundle)


def order_activation_retry(*, order_id: int, actor, reason: str = "",
                           since: int | None = None) -> Order:
    """Support asks for another activation attempt of a failed or stuck paid order, and
    why. With `since` (the admin's form, support/staff.py), a retry recorded on the order
    after it raises ActionDoneAlready: the same form sent twice retries once."""
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        if since is not None:
            staff_action_guard(kind=StaffAction.Kind.RETRY_ACTIVATION, since=since,
                               order=order)
        try:
            order_activation_retry_mark(order=order)
        except TransitionNotAllowed:
            raise OrderError(_("Only a paid order that is not active yet can be retried.")
                             ) from None
        staff_action_record(actor=actor, kind=StaffAction.Kind.RETRY_ACTIVATION, order=order,
                            esim=order.esim, note=reason)
        transaction.on_commit(lambda: _enqueue_activation([order_id]))
    return order
