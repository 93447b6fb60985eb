"""What an eSIM's auto-renewal would do next, for its page, the dashboard and emails."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from billing.models import Order, Payment, PaymentMethod
from esims.models import Bundle, ESim
from esims.selectors import (
    RenewalPeriod,
    bundle_running,
    bundles_queued,
    esim_last_plan_code,
    esim_renewal_charge_at,
    renewal_period,
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
    charge_at: datetime | None  # None: not known yet (no running plan, or one waiting)
    card: PaymentMethod | None
    period: RenewalPeriod | None


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
    return RenewalPreview(plan=priced or plan, currency=currency,
                          amount_minor=priced.price_minor if priced else None,
                          charge_at=charge_at, card=esim.renewal_payment_method,
                          period=period)


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
