"""What an eSIM's auto-renewal would do next, for its page, the dashboard and emails."""

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from billing.models import PaymentMethod
from esims.models import Bundle, ESim
from esims.selectors import RenewalPeriod, renewal_period
from esims.services import renewal_charge_time
from plans.models import Plan
from plans.selectors import plans_with_price


@dataclass(frozen=True)
class RenewalPreview:
    plan: Plan | None
    currency: str
    amount_minor: int | None  # None: the plan has no price in the customer's currency
    charge_at: datetime | None  # None: not known yet (no running plan, or one waiting)
    card: PaymentMethod | None
    period: RenewalPeriod | None


def renewal_plans(*, currency: str):
    """Plans an eSIM can be auto-renewed with, priced in the customer's currency."""
    return (plans_with_price(currency=currency)
            .filter(is_topup=False, is_auto_renewable=True)
            .order_by("validity_days", "data_mb", "pk"))


def renewal_plan_priced(*, plan: Plan | None, currency: str) -> Plan | None:
    """The plan with `price_minor` in the currency, or None when it can no longer be
    auto-renewed (inactive, a top-up, not renewable, or not priced in that currency)."""
    if plan is None:
        return None
    return renewal_plans(currency=currency).filter(pk=plan.pk).first()


def renewal_preview(*, esim: ESim, plan: Plan | None = None) -> RenewalPreview:
    """When, with what and for how much the next auto-renewal charge would be."""
    now = timezone.now()
    currency = esim.owner.currency
    plan = plan or esim.renewal_plan
    priced = renewal_plan_priced(plan=plan, currency=currency)
    charge_at = None
    live = list(esim.bundles.filter(state__in=[Bundle.State.ACTIVE, Bundle.State.QUEUED]))
    active = next((b for b in live if b.state == Bundle.State.ACTIVE), None)
    if esim.auto_renew and esim.renew_at is not None:
        charge_at = max(esim.renew_at, now)
    elif active is not None and len(live) == 1:
        charge_at = renewal_charge_time(active, now=now)
        charge_at = max(charge_at, now) if charge_at else None
    period = (renewal_period(esim=esim, validity_days=plan.validity_days, now=now)
              if plan is not None else None)
    return RenewalPreview(plan=priced or plan, currency=currency,
                          amount_minor=priced.price_minor if priced else None,
                          charge_at=charge_at, card=esim.renewal_payment_method,
                          period=period)


def saved_cards(*, customer, gateway: str):
    return PaymentMethod.objects.filter(customer=customer, gateway=gateway,
                                        status=PaymentMethod.Status.ACTIVE)
