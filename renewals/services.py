"""Auto-renewal: switching it on and off, and charging renewals when they are due.

The sweep reads only eSIMs whose `renew_at` has come (a partial index holds nothing
else), claims them with row locks that other sweeps skip, and hands each to
`renewal_run`. A run is safe to repeat and to race: the renewal order's idempotency key
names the eSIM, the bundle being followed and when auto-renewal was switched on, so one
cycle has one order; the order's lock and its payment rows decide whether a charge
attempt is due (`billing.services.order_charge_saved_card`), so one attempt is one
charge however many runs there are.
"""

import logging
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from billing import services as billing
from billing.gateways import GatewayError
from billing.models import Order, Payment, PaymentMethod
from billing.selectors import card_usable_for_renewal, payment_gateway_name
from esims import services as esim_services
from esims.models import Bundle, ESim
from esims.selectors import (
    bundle_running,
    bundles_queued,
    esim_live_bundles,
    renewal_charge_at,
    renewal_skipped,
    running_bundles,
)
from notifications.models import Notification
from notifications.requests import notification_request
from plans.models import Plan
from portal import audit
from support import services as support_services
from support.models import StaffAction

from .selectors import (
    renewal_cycle_bundle,
    renewal_order_key,
    renewal_plan_priced,
    renewal_skip_refused,
)

if TYPE_CHECKING:
    from plans.selectors import PricedPlan

log = logging.getLogger(__name__)

# A claimed eSIM not dealt with in this time (its run died) is claimed again.
CLAIM_LEASE = timedelta(minutes=10)
# A charge the gateway is still processing is looked at again after this long.
PENDING_RECHECK = timedelta(minutes=10)


class RenewalError(Exception):
    """A customer-facing reason why auto-renewal cannot be switched on as asked."""


class RenewalOutcome(StrEnum):
    """What one step of an eSIM's auto-renewal did (`renewal_run`, `renewal_run_many`)."""

    OFF = "off"  # auto-renewal is off: nothing is scheduled
    RENEWED = "renewed"  # a plan is queued already: nothing is due until it starts
    NOTHING_TO_RENEW = "nothing_to_renew"  # the eSIM never had a plan
    NOT_DUE = "not_due"  # woken early: rescheduled for the charge time
    SKIPPED = "skipped"  # the customer skipped this cycle: nothing until their next plan
    STOPPED = "stopped"  # switched off, or the eSIM can no longer take a plan
    SUSPENDED = "suspended"  # suspended by support: nothing until it is resumed
    PAID = "paid"
    BUSY = "busy"  # another run is charging it: looked at again later
    PENDING = "pending"  # the gateway is still working on the charge
    RETRY_SCHEDULED = "retry_scheduled"  # declined or waiting for 3-D Secure
    GATEWAY_UNREACHABLE = "gateway_unreachable"  # renewal_run_many only: try it again


def auto_renew_switch_on(*, esim: ESim, plan: Plan, card: PaymentMethod) -> ESim:
    """Switch auto-renewal on (or change its plan or card) and schedule the next charge."""
    if not esim.can_renew:
        raise RenewalError(_("This eSIM cannot be renewed in its current state."))
    if renewal_plan_priced(plan=plan, currency=esim.owner.currency) is None:
        raise RenewalError(_("This plan cannot be renewed automatically."))
    if not card_usable_for_renewal(card, owner_id=esim.owner_id,
                                   gateway=payment_gateway_name()):
        raise RenewalError(_("Choose one of your saved cards."))
    with transaction.atomic():
        esim = ESim.objects.select_for_update().get(pk=esim.pk)
        fields = {"renewal_plan": plan, "renewal_payment_method": card,
                  "renewal_attention": ""}
        if not esim.auto_renew:
            fields.update(auto_renew=True, auto_renew_since=timezone.now())
        audit.update_recorded(ESim.objects.filter(pk=esim.pk), values=fields)
        esim_services.esim_renewal_schedule(esim_id=esim.pk)
    return ESim.objects.get(pk=esim.pk)


def auto_renew_switch_off(*, esim: ESim, actor=None, reason: str = "",
                          keep_attention: bool = False) -> bool:
    """Switch auto-renewal off at once: nothing more is charged, even a retry. Returns
    False when it was off already.

    The one way it goes off, whoever asks. The customer's choice of plan and card is kept
    for switching on again; a renewal order still open is left for them to pay by hand.
    When support switches it off for the customer (`actor`), who and why is recorded in
    the same transaction, so there is no change without its record. The note that a
    payment failed goes with it (the customer has acted), except when auto-renewal stops
    itself after the last failed attempt (`keep_attention`): then the dashboard card goes
    on saying so until it is sorted out.
    """
    with transaction.atomic():
        locked = ESim.objects.select_for_update().only("auto_renew", "renewal_attention").get(
            pk=esim.pk)
        fields: dict[str, object] = {}
        if locked.auto_renew:
            fields.update(auto_renew=False, renew_at=None, renewal_notice_at=None)
        if locked.renewal_attention and not keep_attention:
            fields["renewal_attention"] = ""
        if not fields:
            return False
        audit.update_recorded(ESim.objects.filter(pk=esim.pk),
                              values={**fields, "updated_at": timezone.now()})
        if actor is not None:
            support_services.staff_action_record(
                actor=actor, kind=StaffAction.Kind.AUTO_RENEW_OFF, esim=esim, note=reason)
    return locked.auto_renew


def renewal_claim_due(*, now: datetime | None = None, limit: int = 1000) -> list[int]:
    """eSIMs whose next auto-renewal step has come, each moved out of the way for a
    lease so that no other sweep takes it; rows another sweep holds are skipped."""
    now = now or timezone.now()
    with transaction.atomic():
        due = list(ESim.objects.select_for_update(skip_locked=True)
                   .filter(renew_at__lte=now).order_by("renew_at")
                   .values_list("pk", flat=True)[:limit])
        if due:
            ESim.objects.filter(pk__in=due).update(renew_at=now + CLAIM_LEASE)
    return due


def _attempts_allowed(order: Order, now: datetime) -> int:
    """The first attempt, plus each retry whose day (counted from the first) has come."""
    return 1 + sum(1 for days in settings.AUTO_RENEW_RETRY_DAYS
                   if now >= order.created_at + timedelta(days=days))


def _next_attempt_at(order: Order, now: datetime) -> datetime | None:
    times = [order.created_at + timedelta(days=days) for days in settings.AUTO_RENEW_RETRY_DAYS]
    return next((at for at in times if at > now), None)


def _schedule(esim_id: int, at: datetime | None) -> None:
    ESim.objects.filter(pk=esim_id, auto_renew=True).update(renew_at=at)


def renewal_run(*, esim_id: int, now: datetime | None = None) -> RenewalOutcome:
    """Take the eSIM's auto-renewal one step: charge the renewal when due, retry on the
    schedule, tell the customer, switch off after the last failure. Returns what it did.
    Raises GatewayError (retryable) when the gateway could not be reached: the caller
    tries again, with the same payment and so the same idempotency key."""
    now = now or timezone.now()
    esim = ESim.objects.select_related("owner", "renewal_plan", "renewal_payment_method").get(
        pk=esim_id)
    if not esim.auto_renew:
        ESim.objects.filter(pk=esim_id).update(renew_at=None)
        return RenewalOutcome.OFF
    if esim.state == ESim.State.SUSPENDED:
        # Resuming schedules it again (esims.services.esim_resume_at_carrier); a retry
        # of an order made before the suspension waits for that too.
        _schedule(esim_id, None)
        return RenewalOutcome.SUSPENDED
    bundles = list(esim.bundles.order_by("created_at", "pk"))
    if bundles_queued(bundles):
        _schedule(esim_id, None)  # renewed already; the next cycle starts with that plan
        return RenewalOutcome.RENEWED
    cycle = renewal_cycle_bundle(bundles)
    if cycle is None:
        _schedule(esim_id, None)
        return RenewalOutcome.NOTHING_TO_RENEW
    if renewal_skipped(cycle, skipped_bundle_id=esim.renewal_skipped_bundle_id):
        # Even a retry of an order made before the skip stops: the customer said no.
        _schedule(esim_id, None)
        return RenewalOutcome.SKIPPED
    key = renewal_order_key(esim=esim, bundle=cycle)
    order = Order.objects.filter(customer=esim.owner, idempotency_key=key).first()
    if order is None:
        # Not yet only when the running plan's charge time is known and still ahead;
        # a plan that has ended, or whose end is not known, is renewed now.
        charge_at = renewal_charge_at(bundles, now=now)
        if charge_at is not None and charge_at > now:
            _schedule(esim_id, charge_at)  # woken early (the plan changed): not yet
            return RenewalOutcome.NOT_DUE
        order = _renewal_order_create(esim=esim, key=key, cycle=cycle)
        if order is None:
            return RenewalOutcome.STOPPED
    if order.status != Order.Status.PENDING_PAYMENT:
        _schedule(esim_id, None)
        return RenewalOutcome.PAID
    card = esim.renewal_payment_method
    if card is None:  # taken off the eSIM (by hand) since its order was made
        log.warning("auto-renewal of eSIM %s stopped: no card to charge", esim_id)
        with transaction.atomic():
            _stop(esim=esim, cycle=cycle)
        return RenewalOutcome.STOPPED
    payment = None
    try:
        payment = billing.order_charge_saved_card(
            order_id=order.pk, payment_method_id=card.pk,
            attempts_allowed=_attempts_allowed(order, now))
    except billing.ChargeInProgress:
        _schedule(esim_id, now + billing.CHARGE_CLAIM_TIMEOUT)
        return RenewalOutcome.BUSY
    except GatewayError as exc:
        if exc.retryable:
            raise
        log.error("auto-renewal of eSIM %s: the gateway refused the charge: %s", esim_id, exc)
    order.refresh_from_db()
    if order.status != Order.Status.PENDING_PAYMENT:
        return RenewalOutcome.PAID  # fulfilment has scheduled the next cycle
    # The customer's own tries on the pay page are theirs; this run answers for its own.
    payment = payment or (order.payments.filter(off_session=True)
                          .order_by("-created_at", "-pk").first())
    if payment is not None and payment.status == Payment.Status.CREATED:
        _schedule(esim_id, now + PENDING_RECHECK)  # the gateway is still working on it
        return RenewalOutcome.PENDING
    with transaction.atomic():
        attention = ESim.RenewalAttention.PAYMENT_FAILED
        if payment is not None and payment.status == Payment.Status.REQUIRES_ACTION:
            attention = ESim.RenewalAttention.NEEDS_CONFIRMATION
            notification_request(kind=Notification.Kind.PAYMENT_ACTION_REQUIRED,
                                 payment=payment)
        elif payment is not None:
            notification_request(kind=Notification.Kind.PAYMENT_FAILED, payment=payment)
        ESim.objects.filter(pk=esim_id).update(renewal_attention=attention)
        next_at = _next_attempt_at(order, now)
        if next_at is None:
            _stop(esim=esim, cycle=cycle)
            return RenewalOutcome.STOPPED
        _schedule(esim_id, next_at)
    return RenewalOutcome.RETRY_SCHEDULED


def renewal_run_many(*, esim_ids: list[int],
                     now: datetime | None = None) -> dict[int, RenewalOutcome]:
    """`renewal_run` for many eSIMs, with the usual case done as a set: a cycle whose
    charge is due and not ordered yet, with a plan and a card that can still be used, is
    ordered, charged and fulfilled together with the others (`billing.renewal_orders_charge`).
    Every other eSIM, and every renewal the set did not leave paid (a decline, 3-D Secure,
    the gateway out of reach), then takes its step through `renewal_run`, which knows
    what comes next. Returns what was done for each eSIM; GATEWAY_UNREACHABLE means try
    that one again later."""
    now = now or timezone.now()
    esims = list(ESim.objects.select_related("owner", "renewal_plan", "renewal_payment_method")
                 .filter(pk__in=esim_ids, auto_renew=True)
                 .exclude(state=ESim.State.SUSPENDED))  # renewal_run says why not
    bundles: dict[int, list[Bundle]] = {esim.pk: [] for esim in esims}
    for bundle in Bundle.objects.filter(esim__in=esims).order_by("created_at", "pk"):
        bundles[bundle.esim_id].append(bundle)
    gateway = payment_gateway_name()
    priced: dict[tuple[int | None, str], PricedPlan | None] = {}
    due = []
    for esim in esims:
        # The plain case only: a running plan whose charge time has come (none when a
        # plan is queued already) and a card that can be charged.
        active = bundle_running(bundles[esim.pk])
        charge_at = renewal_charge_at(bundles[esim.pk], now=now,
                                      skipped_bundle_id=esim.renewal_skipped_bundle_id)
        card = esim.renewal_payment_method
        if (active is None or charge_at is None or charge_at > now or card is None
                or not card_usable_for_renewal(card, owner_id=esim.owner_id, gateway=gateway)):
            continue
        price_key = (esim.renewal_plan_id, esim.owner.currency)
        if price_key not in priced:
            priced[price_key] = renewal_plan_priced(plan=esim.renewal_plan,
                                                    currency=esim.owner.currency)
        priced_plan = priced[price_key]
        if priced_plan is not None:
            due.append(billing.RenewalCharge(
                esim=esim, plan=priced_plan, card=card,
                idempotency_key=renewal_order_key(esim=esim, bundle=active)))
    ordered = set(Order.objects.filter(
        customer__in=[r.esim.owner_id for r in due],
        idempotency_key__in=[r.idempotency_key for r in due]).values_list("idempotency_key",
                                                                          flat=True))
    charged = billing.renewal_orders_charge(
        renewals=[r for r in due if r.idempotency_key not in ordered])
    outcome: dict[int, RenewalOutcome] = {}
    for esim_id, result in charged.items():
        if isinstance(result, Payment) and result.status == Payment.Status.SUCCEEDED:
            outcome[esim_id] = RenewalOutcome.PAID
    for esim_id in esim_ids:
        if esim_id in outcome:
            continue
        try:
            outcome[esim_id] = renewal_run(esim_id=esim_id, now=now)
        except GatewayError as exc:  # retryable: rate limit, network
            log.info("auto-renewal of eSIM %s: gateway not reachable (%s)", esim_id, exc)
            outcome[esim_id] = RenewalOutcome.GATEWAY_UNREACHABLE
    return outcome


def _renewal_order_create(*, esim: ESim, key: str, cycle: Bundle) -> Order | None:
    """The cycle's renewal order, at today's price in the customer's currency; None
    (and auto-renewal off, the customer told) when the plan or card can no longer be
    used."""
    priced = renewal_plan_priced(plan=esim.renewal_plan, currency=esim.owner.currency)
    if priced is None or not card_usable_for_renewal(
            esim.renewal_payment_method, owner_id=esim.owner_id,
            gateway=payment_gateway_name()):
        log.warning("auto-renewal of eSIM %s stopped: plan or card unavailable", esim.pk)
        with transaction.atomic():
            _stop(esim=esim, cycle=cycle)
        return None
    try:
        return billing.order_create_renewal(
            customer=esim.owner, esim=esim, plan=priced, currency=esim.owner.currency,
            amount_minor=priced.price_minor, idempotency_key=key)
    except billing.OrderError as exc:
        log.warning("auto-renewal of eSIM %s not possible now: %s", esim.pk, exc)
        _schedule(esim.pk, None)
        return None


def _stop(*, esim: ESim, cycle: Bundle) -> None:
    """After the last failed attempt (or with nothing left to charge): switch off, and
    tell the customer once for this cycle."""
    if auto_renew_switch_off(esim=esim, keep_attention=True):
        notification_request(kind=Notification.Kind.AUTO_RENEW_STOPPED, bundle=cycle)


def renewal_notices_send_due(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Tell customers of auto-renewal charges coming up; returns how many due eSIMs were
    handled. Claimed and recorded in one transaction, so a notice is neither lost nor
    sent twice (one per bundle)."""
    now = now or timezone.now()
    with transaction.atomic():
        due = list(ESim.objects.select_for_update(skip_locked=True)
                   .filter(renewal_notice_at__lte=now)
                   .values_list("pk", flat=True)[:limit])
        for active in (running_bundles(esim_ids=due).filter(esim__auto_renew=True)
                       .exclude(esim__renewal_skipped_bundle=F("pk"))
                       .select_related("esim__owner")):
            notification_request(kind=Notification.Kind.RENEWAL_UPCOMING, bundle=active)
        ESim.objects.filter(pk__in=due).update(renewal_notice_at=None)
    return len(due)


def renewal_skip(*, esim: ESim, bundle_id: int) -> bool:
    """"Skip this renewal" (the signed link in an expiry reminder): no auto-renewal
    charge follows the eSIM's running bundle `bundle_id`; auto-renewal stays on and
    follows the next plan the customer buys. Returns False when it was skipped already
    (a repeated click changes nothing). Raises RenewalError when that bundle is not the
    one this eSIM runs now (it has ended, it is another eSIM's, or it never ran) or when
    the renewal is paid already (a plan is waiting)."""
    with transaction.atomic():
        locked = ESim.objects.select_for_update().only("renewal_skipped_bundle").get(
            pk=esim.pk)
        if locked.renewal_skipped_bundle_id == bundle_id:
            return False
        refused = renewal_skip_refused(esim_live_bundles(locked), bundle_id=bundle_id)
        if refused is not None:
            raise RenewalError(refused)
        ESim.objects.filter(pk=esim.pk).update(renewal_skipped_bundle_id=bundle_id,
                                               updated_at=timezone.now())
        esim_services.esim_renewal_schedule(esim_id=esim.pk)
    return True
