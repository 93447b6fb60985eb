"""What an eSIM's auto-renewal would do next, for its page, the dashboard and emails."""

from collections.abc import Sequence
from copy import copy
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from billing.models import Order, Payment, PaymentMethod
from esims.models import Bundle, ESim
from esims.selectors import (
    RenewalPeriod,
    bundle_last_paid,
    bundle_running,
    bundles_queued,
    esim_last_plan_code,
    esim_live_bundles,
    esim_renewal_charge_at,
    paid_until,
    renewal_charge_time,
    renewal_period,
    renewal_skipped,
)
from plans.models import Plan
from plans.selectors import plans_with_price, price_read_once

if TYPE_CHECKING:
    from plans.selectors import PricedPlan

# Every automatic renewal order's idempotency key starts so (`renewal_order_key`); one
# ordered by hand carries its form's key instead.
RENEWAL_KEY_PREFIX = "auto-renew:"


@dataclass(frozen=True)
class RenewalPreview:
    plan: Plan | None
    currency: str
    amount_minor: int | None  # None: the plan has no price in the customer's currency
    # The charge the renewal sweep has due for the running plan (messages about a coming
    # charge say this one). None: not known yet (no running plan, or one waiting).
    charge_at: datetime | None
    card: PaymentMethod | None
    # What that charge buys: after the last paid period (a plan waiting counts).
    period: RenewalPeriod | None
    # The next charge however far: `charge_at`, else, with a renewal bought already and
    # waiting, the charge after it (`renewal_next_charge_at`). What the page shows.
    next_charge_at: datetime | None = None
    # The customer skipped the renewal of the running plan: nothing is charged for it.
    skipped: bool = False


def renewal_plans(*, currency: str) -> "QuerySet[PricedPlan]":
    """Plans an eSIM can be auto-renewed with, priced in the customer's currency."""
    return (plans_with_price(currency=currency)
            .filter(is_topup=False, is_auto_renewable=True)
            .order_by("validity_days", "data_mb", "pk"))


def renewal_plan_priced(*, plan: Plan | None, currency: str) -> "PricedPlan | None":
    """The plan with `price_minor` in the currency, or None when it can no longer be
    auto-renewed (inactive, a top-up, not renewable, or not priced in that currency)."""
    if plan is None:
        return None
    pk = plan.pk
    return price_read_once(("renewal", currency, pk),
                           lambda: renewal_plans(currency=currency).filter(pk=pk).first())


def renewal_plan_offered_first(*, esim: ESim, plans: QuerySet[Plan]) -> Plan | None:
    """The plan the auto-renewal page selects: the one chosen already, else the plan of
    the eSIM's last bundle when `plans` has it, else the first of `plans`."""
    if esim.renewal_plan is not None:
        return esim.renewal_plan
    return (plans.filter(code=esim_last_plan_code(esim=esim)).first() or plans.first())


def renewal_order_key(*, esim: ESim, bundle: Bundle) -> str:
    """One renewal order per cycle: per bundle followed, per switching on."""
    since = int(esim.auto_renew_since.timestamp()) if esim.auto_renew_since else 0
    return f"{RENEWAL_KEY_PREFIX}{esim.pk}:{bundle.pk}:{since}"


def renewal_cycle_bundle(bundles: Sequence[Bundle]) -> Bundle | None:
    """The bundle an auto-renewal follows (its order's key names it): the running one,
    or once it has ended, the eSIM's last (`bundles` in the order they were made)."""
    return bundle_running(bundles) or (bundles[-1] if bundles else None)


def renewal_preview(*, esim: ESim, plan: Plan | None = None) -> RenewalPreview:
    """When, with what and for how much the next auto-renewal charge would be."""
    now = timezone.now()
    currency = esim.owner.currency
    plan = plan or esim.renewal_plan
    priced = renewal_plan_priced(plan=plan, currency=currency)
    charge_at: datetime | None = None
    if esim.auto_renew and esim.renew_at is not None:
        charge_at = max(esim.renew_at, now)
    elif (due := esim_renewal_charge_at(esim, now=now)) is not None:
        charge_at = max(due, now)
    period = (renewal_period(esim=esim, validity_days=plan.validity_days, now=now)
              if plan is not None else None)
    next_charge_at, skipped = charge_at, False
    if charge_at is None:  # a renewal waiting already, the renewal skipped, or not known yet
        live = esim_live_bundles(esim)
        next_charge_at = renewal_next_charge_at(live, now=now)
        skipped = renewal_skipped(bundle_last_paid(live),
                                  skipped_bundle_id=esim.renewal_skipped_bundle_id)
    return RenewalPreview(plan=priced or plan, currency=currency,
                          amount_minor=priced.price_minor if priced else None,
                          charge_at=charge_at, card=esim.renewal_payment_method,
                          period=period, next_charge_at=next_charge_at, skipped=skipped)


def renewal_next_charge_at(bundles: Sequence[Bundle], *, now: datetime) -> datetime | None:
    """When the auto-renewal after a renewal already bought and waiting would be charged
    (`bundles`: the eSIM's live bundles in run order): the charge time of the last paid
    plan (`renewal_charge_time`) as it will be when it runs, ending at the end of the
    last paid period with none of its data used yet. It is earlier if the plans before it
    run out of data sooner. None when no plan waits (the running plan's own charge time
    is `esim_renewal_charge_at`), or while the running plan's end is not known."""
    if not bundles_queued(bundles):
        return None
    last, end = bundle_last_paid(bundles), paid_until(bundles)
    if last is None or end is None:
        return None
    as_it_will_run = copy(last)
    as_it_will_run.ends_at, as_it_will_run.data_used_bytes = end, 0
    at = renewal_charge_time(as_it_will_run, now=now)
    return max(at, now) if at is not None else None


class RenewOffer(StrEnum):
    """What an eSIM's card offers for its next plan (`renewal_offer`)."""

    NONE = ""  # no plan can be added, or the first plan has not started yet
    RENEW = "renew"  # a plan runs with nothing after it, or none runs any more
    RENEW_AGAIN = "renew_again"  # a renewal is bought and waits: say so, and offer more


def renewal_offer(esim: ESim, bundles: Sequence[Bundle]) -> RenewOffer:
    """Whether to offer "Renew" on the eSIM's card (`bundles`: its live bundles in run
    order). Not before its first plan has started: an eSIM being prepared, ready to
    install, or installed with its plan not started yet (that plan starts on the device,
    and a renewal would only queue behind it). With a renewal bought and waiting, the
    card says so and offers another only as a second choice."""
    if not esim.can_renew or esim.state == ESim.State.READY:
        return RenewOffer.NONE
    running, queued = bundle_running(bundles), bundles_queued(bundles)
    if running is None and queued:
        return RenewOffer.NONE
    return RenewOffer.RENEW_AGAIN if queued else RenewOffer.RENEW


def renewal_payment_needing_attention(*, esim: ESim) -> Payment | None:
    """The last attempt of an auto-renewal still unpaid, failed or waiting for the bank's
    confirmation by the customer, while the eSIM says so (as its dashboard card does)."""
    if not esim.renewal_attention:
        return None
    order = (Order.objects.filter(esim=esim, kind=Order.Kind.RENEWAL,
                                  status=Order.Status.PENDING_PAYMENT,
                                  idempotency_key__startswith=RENEWAL_KEY_PREFIX)
             .order_by("-created_at").first())
    if order is None:
        return None
    return (order.payments.filter(status__in=[Payment.Status.FAILED,
                                              Payment.Status.REQUIRES_ACTION])
            .select_related("order").order_by("-created_at", "-pk").first())


def renewal_skip_refused(bundles: Sequence[Bundle], *, bundle_id: int) -> str | None:
    """Why the auto-renewal after bundle `bundle_id` cannot be skipped, or None when it
    can: it must be the plan the eSIM runs now (`bundles`: its live bundles in run
    order), and its renewal not paid yet (no plan waiting behind it)."""
    running = bundle_running(bundles)
    if running is None or running.pk != bundle_id:
        return _("This plan is no longer running: there is no renewal of it to skip.")
    if bundles_queued(bundles):
        return _("This eSIM is renewed already: the next plan is paid for.")
    return None
