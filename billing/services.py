"""Orders and payments: every state move of an Order or a Payment happens here.

Fulfilment (`payment_sync`) is one idempotent function, locked per order: however many
times a browser return (or, later, a webhook) calls it, an order is paid once and gets
one eSIM and one bundle.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from carrier.client import CarrierError
from esims import selectors as esim_selectors
from esims import services as esim_services
from notifications.models import Notification
from notifications.services import notification_request
from plans.models import Plan
from support.models import StaffAction
from support.services import staff_action_record

from .gateways import get_gateway
from .models import Order, Payment
from .receipts import credit_note_issue, receipt_issue

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
    """Open a payment for the order at the gateway, or reuse the one already open."""
    gateway = get_gateway()
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        if order.status != Order.Status.PENDING_PAYMENT:
            raise OrderError(_("This order is already paid."))
        recent = timezone.now() - timedelta(minutes=PAYMENT_REUSE_MINUTES)
        open_payment = (order.payments.filter(status__in=Payment.OPEN_STATUSES,
                                              gateway=gateway.name, created_at__gte=recent)
                        .exclude(gateway_reference="").first())
        if open_payment is not None:
            return open_payment
        payment = Payment.objects.create(order=order, gateway=gateway.name,
                                         amount_minor=order.amount_minor,
                                         currency=order.currency)
        charge = gateway.charge_start(payment=payment,
                                      description=f"{order.number} · {order.plan.name}",
                                      return_url=return_url_for(payment))
        payment.gateway_reference = charge.reference
        payment.save(update_fields=["gateway_reference", "updated_at"])
        return payment


def payment_customer_url(*, payment: Payment) -> str:
    return get_gateway(payment.gateway).charge_customer_url(reference=payment.gateway_reference)


def payment_sync(*, payment_id: int) -> Payment:
    """Ask the gateway what became of a payment and act on it, exactly once."""
    payment = Payment.objects.get(pk=payment_id)
    charge = get_gateway(payment.gateway).charge_retrieve(reference=payment.gateway_reference)
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=payment.order_id)
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        if payment.status not in Payment.OPEN_STATUSES:
            return payment
        if charge.status == "succeeded":
            payment.status = Payment.Status.SUCCEEDED
            payment.save(update_fields=["status", "updated_at"])
            _order_mark_paid(order=order, payment=payment)
        elif charge.status == "failed":
            payment.status = Payment.Status.FAILED
            payment.failure_code = charge.failure_code or "declined"
            # The gateway's own words, for support; customers see Payment.explanation.
            payment.failure_message = (charge.failure_message or payment.failure_code)[:255]
            payment.save(update_fields=["status", "failure_code", "failure_message",
                                        "updated_at"])
        elif charge.status == "requires_action":
            payment.status = Payment.Status.REQUIRES_ACTION
            payment.save(update_fields=["status", "updated_at"])
    return payment


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


def _order_mark_paid(*, order: Order, payment: Payment) -> None:
    """Called with the order locked, once its money is in."""
    if order.status != Order.Status.PENDING_PAYMENT:
        # A second successful payment for one order: support must refund it.
        log.error("order %s received a second successful payment", order.number)
        return
    order.status = Order.Status.PAID
    order.paid_at = timezone.now()
    fields = ["status", "paid_at"]
    if order.kind == Order.Kind.NEW_ESIM:
        order.esim = esim_services.esim_create_for_order(order=order)
        fields.append("esim")
    elif order.kind == Order.Kind.RENEWAL:
        esim_services.bundle_create_for_order(order=order, esim=order.esim)
    order.save(update_fields=fields)
    receipt_issue(order=order, payment=payment)
    notification_request(kind=Notification.Kind.ORDER_PAID, order=order)
    order_id = order.pk
    transaction.on_commit(lambda: _enqueue_activation(order_id))


def _enqueue_activation(order_id: int) -> None:
    from .tasks import order_activate

    order_activate.delay(order_id)


def order_activate(*, order_id: int) -> Order:
    """Provision the order's eSIM and apply its bundle at the carrier.

    Safe to run any number of times, side by side: each carrier step is deduplicated by
    the carrier and its result saved only once. Raises CarrierError when the carrier does
    not cooperate; the task decides whether to try again.
    """
    now = timezone.now()
    Order.objects.filter(pk=order_id, status=Order.Status.PAID).update(
        status=Order.Status.ACTIVATING, activation_started_at=now)
    if not Order.objects.filter(pk=order_id, status=Order.Status.ACTIVATING).update(
            activation_attempts=F("activation_attempts") + 1, activation_attempted_at=now):
        return Order.objects.get(pk=order_id)  # done, failed or refunded: nothing to do
    order = Order.objects.select_related("esim", "plan").get(pk=order_id)
    if order.kind == Order.Kind.TOPUP:
        esim_services.topup_apply_at_carrier(esim=order.esim, reference=order.number,
                                             plan=order.plan)
    else:
        esim = esim_services.esim_provision(esim=order.esim, call_prefix=order.number)
        bundle = order.bundle
        bundle.esim = esim
        esim_services.bundle_apply_at_carrier(bundle=bundle)
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        if order.status == Order.Status.ACTIVATING:
            order.status = Order.Status.COMPLETED
            order.completed_at = timezone.now()
            order.save(update_fields=["status", "completed_at"])
            esim_services.esim_mark_ready(esim_id=order.esim_id)
            if order.kind == Order.Kind.NEW_ESIM:
                notification_request(kind=Notification.Kind.ESIM_READY, order=order)
    return order


def order_activation_overdue(*, order_id: int) -> bool:
    limit = timedelta(hours=settings.ACTIVATION_GIVE_UP_AFTER_HOURS)
    return Order.objects.filter(pk=order_id, paid_at__lt=timezone.now() - limit).exists()


@transaction.atomic
def order_activation_fail(*, order_id: int, error: CarrierError) -> Order:
    """The carrier refused, or kept failing past the limit: flag the order for support."""
    order = Order.objects.select_for_update().get(pk=order_id)
    if order.status in (Order.Status.PAID, Order.Status.ACTIVATING):
        order.status = Order.Status.FAILED
        order.failed_at = timezone.now()
        order.failure_reason = f"[{error.code}] {error}" if error.code else str(error)
        order.save(update_fields=["status", "failed_at", "failure_reason"])
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


def order_refund(*, order_id: int, actor, reason: str) -> Order:
    """Refund a paid order in full: take back what it applied at the carrier, refund the
    payment at the gateway, then (in one transaction) mark it refunded, issue the credit
    note and record who did it. Every step is safe to repeat, so a refund cut short is
    finished by doing it again."""
    order = Order.objects.select_related("esim").get(pk=order_id)
    if order.status == Order.Status.REFUNDED:
        return order
    if order.paid_at is None:
        raise OrderError(_("This order was never paid."))
    payment = order.payments.get(status=Payment.Status.SUCCEEDED)
    # Withdraw what the order applied at the carrier, so nothing keeps running unpaid.
    if order.kind == Order.Kind.TOPUP:
        if order.completed_at is not None:
            esim_services.topup_revoke(esim=order.esim, reference=order.number)
    else:
        esim_services.bundle_revoke(bundle=order.bundle)
    refund_reference = get_gateway(payment.gateway).charge_refund(
        reference=payment.gateway_reference, amount_minor=payment.amount_minor)
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        if order.status == Order.Status.REFUNDED:
            return order
        now = timezone.now()
        order.status = Order.Status.REFUNDED
        order.refunded_at = now
        order.save(update_fields=["status", "refunded_at"])
        note = credit_note_issue(receipt=order.receipt, reason=reason,
                                 refund_reference=refund_reference, at=now)
        staff_action_record(actor=actor, kind=StaffAction.Kind.REFUND, order=order,
                            esim=order.esim, note=reason, outcome=note.number)
    return order


def order_activation_retry(*, order_id: int, actor) -> Order:
    """Support asks for another activation attempt of a failed or stuck paid order."""
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        if order.status not in (Order.Status.FAILED, Order.Status.PAID,
                                Order.Status.ACTIVATING):
            raise OrderError(_("Only a paid order that is not active yet can be retried."))
        order.status = Order.Status.ACTIVATING
        order.failed_at = None
        order.failure_reason = ""
        order.save(update_fields=["status", "failed_at", "failure_reason"])
        staff_action_record(actor=actor, kind=StaffAction.Kind.RETRY_ACTIVATION, order=order,
                            esim=order.esim)
        transaction.on_commit(lambda: _enqueue_activation(order_id))
    return order
