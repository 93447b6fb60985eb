from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404

from .models import Bundle, ESim

LIVE_STATES = (Bundle.State.ACTIVE, Bundle.State.QUEUED)


def live_bundles() -> QuerySet[Bundle]:
    """Running and waiting bundles in the order they run: prefetched as `live_bundles`."""
    return Bundle.objects.filter(state__in=LIVE_STATES).order_by("created_at", "pk")


def running_bundles(*, esim_ids: Iterable[int]) -> QuerySet[Bundle]:
    """The bundle each of these eSIMs runs now (`bundle_running`), as one query."""
    return Bundle.objects.filter(esim_id__in=esim_ids, state=Bundle.State.ACTIVE)


def esim_live_bundles(esim: ESim) -> list[Bundle]:
    """The eSIM's running and waiting bundles, in run order: those prefetched as
    `live_bundles` when they were (the dashboard, a batch of messages), else one query."""
    if hasattr(esim, "live_bundles"):
        return esim.live_bundles
    return list(live_bundles().filter(esim=esim))


# --- Which bundle runs: rules over bundles already fetched, so that a page or a batch
# that has the rows asks no more queries, and one that has not asks one
# (`esim_live_bundles`). Every caller goes through these.

def bundle_running(bundles: Iterable[Bundle]) -> Bundle | None:
    """The bundle the eSIM runs now: the active one (the carrier runs one at a time, and
    `bundle_one_active_per_esim` holds it), whatever its data says; None between plans."""
    return next((b for b in bundles if b.state == Bundle.State.ACTIVE), None)


def bundles_queued(bundles: Iterable[Bundle]) -> list[Bundle]:
    """The bundles waiting to run, in the order they will (`bundles` in run order)."""
    return [b for b in bundles if b.state == Bundle.State.QUEUED]


def bundle_current(bundles: Sequence[Bundle]) -> Bundle | None:
    """The bundle a page shows as the eSIM's plan: the running one, else the first
    waiting (`bundles` are its live bundles in run order)."""
    return bundle_running(bundles) or (bundles[0] if bundles else None)


def bundle_topup_target(bundles: Iterable[Bundle]) -> Bundle | None:
    """The bundle a top-up adds data to: the running one, when it has an allowance (an
    unlimited plan takes no top-up)."""
    running = bundle_running(bundles)
    return running if running is not None and not running.is_unlimited else None


def bundle_last_paid(bundles: Sequence[Bundle]) -> Bundle | None:
    """The bundle whose end is the end of the eSIM's paid service: the last one waiting,
    else the running one (`bundles` are its live bundles in run order)."""
    queued = bundles_queued(bundles)
    return queued[-1] if queued else bundle_running(bundles)


def paid_until(bundles: Iterable[Bundle]) -> datetime | None:
    """The end of the eSIM's last paid period: the running bundle's end plus the
    validity of every bundle waiting behind it (each runs its full length after the
    one before). None when nothing runs, or while the running plan's end is not known
    (not installed yet). `bundles` are its live bundles in run order."""
    bundles = list(bundles)
    running = bundle_running(bundles)
    if running is None or running.ends_at is None:
        return None
    return running.ends_at + sum((timedelta(days=b.validity_days)
                                  for b in bundles_queued(bundles)), timedelta())


def renewal_threshold_reached(bundle: Bundle) -> bool:
    """`AUTO_RENEW_DATA_PERCENT` of the bundle's data is used (never, when unlimited)."""
    allowance = bundle.data_allowance_bytes
    if not allowance:
        return False
    return bundle.data_used_bytes * 100 >= allowance * settings.AUTO_RENEW_DATA_PERCENT


def renewal_charge_time(bundle: Bundle, *, now: datetime) -> datetime | None:
    """When an auto-renewal following this running bundle is charged (docs/renewals.md):
    a set time before it ends (at most half its length, so that a day pass is not
    renewed the moment it starts), or as soon as the set share of its data is used;
    None while its end is not known."""
    if bundle.ends_at is None:
        return None
    lead = min(timedelta(hours=settings.AUTO_RENEW_LEAD_HOURS),
               timedelta(days=bundle.validity_days) / 2)
    at = bundle.ends_at - lead
    return min(at, now) if renewal_threshold_reached(bundle) else at


def renewal_skipped(bundle: Bundle | None, *, skipped_bundle_id: int | None) -> bool:
    """"Skip this renewal": no auto-renewal charge follows this bundle, because it is
    the one the customer skipped (`ESim.renewal_skipped_bundle`). Auto-renewal stays on
    and follows the next plan they buy, which is another bundle."""
    return (bundle is not None and skipped_bundle_id is not None
            and bundle.pk == skipped_bundle_id)


def renewal_charge_at(bundles: Iterable[Bundle], *, now: datetime,
                      skipped_bundle_id: int | None = None) -> datetime | None:
    """When the auto-renewal of an eSIM with these bundles is charged: for the running
    bundle, when it is the only live one. None when a plan is queued already (renewed:
    the next cycle starts with that plan), when nothing runs, while the running plan's
    end is not known, or when the customer skipped the renewal after it
    (`skipped_bundle_id`, the eSIM's `renewal_skipped_bundle_id`; see
    `esim_renewal_charge_at`)."""
    bundles = list(bundles)
    running = bundle_running(bundles)
    if running is None or bundles_queued(bundles):
        return None
    if renewal_skipped(running, skipped_bundle_id=skipped_bundle_id):
        return None
    return renewal_charge_time(running, now=now)


def esim_renewal_charge_at(esim: ESim, *, now: datetime) -> datetime | None:
    """`renewal_charge_at` for this eSIM's live bundles and its skipped renewal. None
    while support has it suspended at the carrier: no data flows, so nothing is charged
    until it is resumed (which schedules the charge again)."""
    if esim.state == ESim.State.SUSPENDED:
        return None
    return renewal_charge_at(esim_live_bundles(esim), now=now,
                             skipped_bundle_id=esim.renewal_skipped_bundle_id)


def esim_list_for_dashboard(*, owner) -> QuerySet[ESim]:
    """The owner's eSIMs with their live bundles: two queries however many there are."""
    live = live_bundles().select_related("plan")
    return (ESim.objects.filter(owner=owner).exclude(state=ESim.State.CANCELLED)
            .prefetch_related(Prefetch("bundles", queryset=live, to_attr="live_bundles"))
            .order_by("created_at", "pk"))


def esim_get_for_owner(*, owner, pk: int) -> ESim:
    """Another customer's eSIM is a 404, never a 403: its existence is not disclosed."""
    return get_object_or_404(ESim, owner=owner, pk=pk)


def esim_current_bundle(esim: ESim) -> Bundle | None:
    return bundle_current(esim_live_bundles(esim))


def esim_running_bundle(*, esim: ESim) -> Bundle | None:
    return bundle_running(esim_live_bundles(esim))


@dataclass(frozen=True)
class RenewalPeriod:
    """When a plan runs, and what it follows (templates/billing/_period.html words it)."""

    starts_at: datetime | None  # None: not known yet (the eSIM is not installed)
    ends_at: datetime | None
    after_current: bool  # queued behind a running plan: starts earlier if its data runs out
    # ... and behind a plan already bought that waits to run too: it starts after that one.
    after_queued: bool = False


def renewal_period(*, esim: ESim, validity_days: int, now: datetime) -> RenewalPeriod:
    """When a plan bought now for this eSIM would run: after the running plan and any
    plans already waiting, or from now when nothing runs, or when what runs has ended by
    the clock already (its end not reported yet: it cannot start in the past)
    (docs/renewals.md)."""
    live = esim_live_bundles(esim)
    length = timedelta(days=validity_days)
    start = paid_until(live)
    if start is not None and start > now:
        return RenewalPeriod(starts_at=start, ends_at=start + length, after_current=True,
                             after_queued=bool(bundles_queued(live)))
    if start is not None or (not live and esim.state in (ESim.State.INSTALLED,
                                                         ESim.State.EXPIRED)):
        return RenewalPeriod(starts_at=now, ends_at=now + length, after_current=False)
    return RenewalPeriod(starts_at=None, ends_at=None, after_current=bool(live))


def bundle_expected_period(bundle: Bundle, *, live: list[Bundle] | None = None) -> RenewalPeriod:
    """When a bundle runs: its own dates once started, else after the running bundle and
    the bundles queued before it (it starts earlier if their data runs out). `live` is
    the eSIM's live bundles when they were prefetched (`live_bundles`)."""
    if bundle.starts_at is not None:
        return RenewalPeriod(starts_at=bundle.starts_at, ends_at=bundle.ends_at,
                             after_current=False)
    if live is None:
        live = list(live_bundles().filter(esim=bundle.esim_id))
    # Those before it in run order (`live_bundles`: by creation, then id).
    before = [b for b in live if (b.created_at, b.pk) < (bundle.created_at, bundle.pk)]
    start = paid_until(before)
    if start is None:
        return RenewalPeriod(starts_at=None, ends_at=None, after_current=bool(before))
    return RenewalPeriod(starts_at=start, ends_at=start + timedelta(days=bundle.validity_days),
                         after_current=True, after_queued=bool(bundles_queued(before)))


def esim_last_plan_code(*, esim: ESim) -> str | None:
    """The plan of the eSIM's most recent bundle: what "renew" offers first."""
    return (esim.bundles.order_by("-created_at", "-pk")
            .values_list("plan_code", flat=True).first())


def esim_topup_target(*, esim: ESim) -> Bundle | None:
    """The running bundle a top-up would add data to (`bundle_topup_target`)."""
    return bundle_topup_target(esim_live_bundles(esim))
