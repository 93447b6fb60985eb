"""Expiry reminders before the end of an eSIM's last paid period.

The end P is `esims.selectors.paid_until`: the running plan's end plus every plan
waiting behind it, so a customer who renewed already is not told to renew. A reminder
is due at P − D for each D in REMINDER_DAYS, only those after the running plan started
(a 7-day plan gets no "7 days left" at its start, but does get the 1-day one) and after
the plan that makes P was bought. The
moments are absolute: the customer's time zone changes how a message shows the time,
never when it is due (and holds a text until morning, notifications/quiet.py).

`ESim.reminder_due_at` says when to look at an eSIM next. The receiver of
`esims.signals.bundles_changed` sets it whenever a period changes (a renewal paid, a
plan started or ended); the sweep (`reminders_send_due`) claims eSIMs whose time has
come, with row locks other sweeps skip, works out P again from the bundles as they are
now, asks for the most urgent reminder due and sets the next time, all in one
transaction. A reminder is about the last paid bundle with its D as the step, and a
message row is unique per (kind, channel, bundle, step): overlapping sweeps, a repeated
task or a crash before commit neither duplicate nor lose one, and a renewal (a new last
paid bundle) starts a fresh set for the new end.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.db import transaction
from django.dispatch import receiver
from django.urls import reverse
from django.utils import timezone

from billing.selectors import card_usable_for_renewal, payment_gateway_name
from esims.models import Bundle, ESim
from esims.selectors import (
    bundle_last_paid,
    bundle_running,
    esim_last_plan_code,
    esim_live_bundles,
    live_bundles,
    paid_until,
    renewal_skipped,
)
from esims.signals import BundleChange, bundles_changed
from plans.models import Plan
from plans.selectors import plans_with_price, price_read_once
from renewals.selectors import renewal_preview

from .links import skip_renewal_url
from .models import Notification
from .requests import About, notifications_request

# Service paused by support, or a profile withdrawn: nothing to remind of.
NO_REMINDERS = (ESim.State.SUSPENDED, ESim.State.CANCELLED)
# eSIMs claimed and handled in one transaction by the sweep.
SWEEP_CHUNK = 1000


@dataclass(frozen=True)
class ReminderStep:
    bundle: Bundle | None  # the last paid bundle: what the reminders are about
    threshold: int | None  # the D of the reminder due now; None when none is
    next_at: datetime | None  # when to look at the eSIM again; None: not until it changes


def reminder_moments(bundles: Sequence[Bundle]) -> list[tuple[int, datetime]]:
    """(D, P − D days) for each of REMINDER_DAYS that falls after the running plan's
    start and after the last paid plan was bought: an end is reminded of only from when
    it was bought (a renewal bought with 7 days left gets no "30 days left" for its new
    end). None while P is not known. `bundles` are the eSIM's live bundles in run order."""
    end = paid_until(bundles)
    running = bundle_running(bundles)
    last = bundle_last_paid(bundles)
    if end is None or running is None or last is None:
        return []
    since = max(filter(None, (running.starts_at, last.created_at)))
    moments = [(days, end - timedelta(days=days)) for days in settings.REMINDER_DAYS]
    return [(days, at) for days, at in moments if at > since]


def reminder_step(bundles: Sequence[Bundle], *, now: datetime,
                  reminded: Iterable[int] = ()) -> ReminderStep:
    """What is due for an eSIM with these live bundles at `now`: the most urgent
    reminder whose moment has passed (when several have, only the smallest D: the
    others are stale), while P is still ahead and unless it is in `reminded`; else the
    next moment to come. A period that has ended gets no reminder."""
    moments = reminder_moments(bundles)
    if not moments:
        return ReminderStep(bundle=None, threshold=None, next_at=None)
    last = bundle_last_paid(bundles)
    end = paid_until(bundles)
    passed = [(days, at) for days, at in moments if at <= now]
    if passed and end is not None and end > now:
        days, at = min(passed)
        if days not in set(reminded):
            return ReminderStep(bundle=last, threshold=days, next_at=at)
    return ReminderStep(bundle=last, threshold=None,
                        next_at=min((at for _days, at in moments if at > now), default=None))


def _live_by_esim(esim_ids: Iterable[int]) -> dict[int, list[Bundle]]:
    """Each eSIM's live bundles in run order, in one query."""
    by_esim: dict[int, list[Bundle]] = {pk: [] for pk in esim_ids}
    for bundle in live_bundles().filter(esim_id__in=list(by_esim)):
        by_esim[bundle.esim_id].append(bundle)
    return by_esim


def _due_save(due: dict[int, datetime | None]) -> None:
    """Write each eSIM's next look, as one statement per batch."""
    ESim.objects.bulk_update([ESim(pk=pk, reminder_due_at=at) for pk, at in due.items()],
                             ["reminder_due_at"], batch_size=SWEEP_CHUNK)


def reminders_reschedule(*, esim_ids: Iterable[int], now: datetime | None = None) -> None:
    """Set when to look at these eSIMs next, from their bundles as they are now: the
    moment of a reminder due and not yet asked for, else the next to come. In the
    caller's transaction; four queries however many eSIMs. The eSIMs are locked, so a
    sweep working on one finishes first and this answer, from the newer bundles, wins."""
    now = now or timezone.now()
    with transaction.atomic():
        esims = list(ESim.objects.select_for_update().filter(pk__in=list(esim_ids))
                     .order_by("pk").only("pk", "state", "reminder_due_at"))
        if not esims:
            return
        bundles = _live_by_esim(e.pk for e in esims)
        last_paid = {pk: bundle_last_paid(live) for pk, live in bundles.items()}
        reminded: dict[int, set[int]] = {}
        for bundle_id, threshold in Notification.objects.filter(
                kind=Notification.Kind.EXPIRY_REMINDER,
                bundle_id__in=[b.pk for b in last_paid.values() if b is not None]
        ).values_list("bundle_id", "threshold"):
            reminded.setdefault(bundle_id, set()).add(threshold)
        due: dict[int, datetime | None] = {}
        for esim in esims:
            at = None
            last = last_paid[esim.pk]
            if esim.state not in NO_REMINDERS and last is not None:
                at = reminder_step(bundles[esim.pk], now=now,
                                   reminded=reminded.get(last.pk, ())).next_at
            if at != esim.reminder_due_at:
                due[esim.pk] = at
        _due_save(due)


@receiver(bundles_changed, dispatch_uid="notifications.reminders")
def _on_bundles_changed(sender, changes: Sequence[BundleChange], **kwargs) -> None:
    """A period changed (a plan bought, started, ended, its end moved): the eSIM's
    reminders are planned again. Usage alone changes nothing here."""
    esim_ids = {change.bundle.esim_id for change in changes if change.period_changed}
    if esim_ids:
        reminders_reschedule(esim_ids=esim_ids)


def reminders_send_due(*, now: datetime | None = None, limit: int = SWEEP_CHUNK) -> int:
    """Ask for the expiry reminders due among up to `limit` eSIMs whose look is due, and
    set when to look at each again; returns how many eSIMs were handled. One transaction
    and seven queries, however many eSIMs there are (due or not)."""
    now = now or timezone.now()
    with transaction.atomic():
        claimed = list(ESim.objects.select_for_update(skip_locked=True)
                       .filter(reminder_due_at__lte=now).order_by("reminder_due_at")
                       .values_list("pk", "owner_id", "state")[:limit])
        if not claimed:
            return 0
        bundles = _live_by_esim(pk for pk, _owner, _state in claimed)
        about: list[About] = []
        due: dict[int, datetime | None] = {}
        for pk, owner_id, state in claimed:
            due[pk] = None
            if state in NO_REMINDERS:
                continue
            step = reminder_step(bundles[pk], now=now)
            if step.threshold is not None and step.bundle is not None:
                about.append(About(customer_id=owner_id, bundle_id=step.bundle.pk,
                                   esim_id=pk, threshold=step.threshold))
                step = reminder_step(bundles[pk], now=now, reminded=[step.threshold])
            due[pk] = step.next_at
        notifications_request(kind=Notification.Kind.EXPIRY_REMINDER, about=about, now=now)
        _due_save(due)
    return len(claimed)


# --- What a reminder offers the customer (for its message).

@dataclass(frozen=True)
class ReminderOffer:
    ends_at: datetime | None  # the end of the last paid period (None: not known)
    auto_renews: bool  # the renewal will be charged to a saved card: say when and how much
    charge_at: datetime | None  # when (None: not known yet, e.g. a plan is waiting)
    plan: Plan | None  # the plan it renews with, or the plan offered on the renew page
    currency: str
    amount_minor: int | None
    skip_url: str | None  # signed "skip this renewal" link (auto-renewal only)
    renew_url: str | None  # the renew page with the plan chosen (when not auto-renewed)


def reminder_offer(esim: ESim) -> ReminderOffer:
    """What an expiry reminder for this eSIM offers. With auto-renewal on, a card it can
    charge, a plan it can renew with and this cycle not skipped: when and how much will
    be charged, and a signed link to skip this renewal (while the running plan is the
    last paid one: `renewal_skip` takes no other). Otherwise a link to renew by hand,
    with the plan chosen already (the auto-renewal plan, else the last one bought, when
    still on sale in the customer's currency)."""
    # Kept on the eSIM like a prefetch, so the renewal preview and the rest of the
    # message read them without asking again.
    live = esim.live_bundles = esim_live_bundles(esim)  # type: ignore[attr-defined]
    last = bundle_last_paid(live)
    end = paid_until(live)
    if (esim.auto_renew
            and card_usable_for_renewal(esim.renewal_payment_method, owner_id=esim.owner_id,
                                        gateway=payment_gateway_name())
            and not renewal_skipped(last, skipped_bundle_id=esim.renewal_skipped_bundle_id)):
        preview = renewal_preview(esim=esim)
        if preview.amount_minor is not None:
            running = bundle_running(live)
            skip = (skip_renewal_url(esim_id=esim.pk, bundle_id=running.pk)
                    if running is not None and running == last else None)
            return ReminderOffer(ends_at=end, auto_renews=True, charge_at=preview.charge_at,
                                 plan=preview.plan, currency=preview.currency,
                                 amount_minor=preview.amount_minor, skip_url=skip,
                                 renew_url=None)
    currency = esim.owner.currency
    # The plan to renew with: the auto-renewal's, else the last bought (the last paid
    # bundle's, when one is live), while it is on sale in the customer's currency.
    code = (esim.renewal_plan.code if esim.renewal_plan_id and esim.renewal_plan
            else last.plan_code if last is not None else esim_last_plan_code(esim=esim))
    plan = (price_read_once(("for-sale", currency, code), lambda: plans_with_price(
        currency=currency).filter(code=code, is_topup=False).first()) if code else None)
    url = settings.PORTAL_BASE_URL + reverse("billing:renew", args=[esim.pk])
    if plan is not None:
        url += "?" + urlencode({"plan": plan.code})
    return ReminderOffer(ends_at=end, auto_renews=False, charge_at=None, plan=plan,
                         currency=currency,
                         amount_minor=plan.price_minor if plan is not None else None,
                         skip_url=None, renew_url=url)
