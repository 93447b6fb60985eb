from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404

from .models import Bundle, ESim

LIVE_STATES = (Bundle.State.ACTIVE, Bundle.State.QUEUED)


def live_bundles() -> QuerySet[Bundle]:
    """Running and waiting bundles in the order they run: prefetched as `live_bundles`."""
    return Bundle.objects.filter(state__in=LIVE_STATES).order_by("created_at", "pk")


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
    bundles = esim.live_bundles if hasattr(esim, "live_bundles") else list(
        live_bundles().filter(esim=esim))
    active = [b for b in bundles if b.state == Bundle.State.ACTIVE]
    return active[0] if active else (bundles[0] if bundles else None)


@dataclass(frozen=True)
class RenewalPeriod:
    starts_at: datetime | None  # None: not known yet (the eSIM is not installed)
    ends_at: datetime | None
    after_current: bool  # queued behind a running plan: starts earlier if its data runs out


def renewal_period(*, esim: ESim, validity_days: int, now: datetime) -> RenewalPeriod:
    """When a plan bought now for this eSIM would run: after the running plan and any
    plans already waiting, or from now when nothing runs (DESIGN: renewal rules)."""
    live = list(live_bundles().filter(esim=esim))
    active = next((b for b in live if b.state == Bundle.State.ACTIVE), None)
    waiting = [b for b in live if b.state == Bundle.State.QUEUED]
    length = timedelta(days=validity_days)
    if active is not None and active.ends_at is not None:
        start = active.ends_at + sum((timedelta(days=b.validity_days) for b in waiting),
                                     timedelta())
        return RenewalPeriod(starts_at=start, ends_at=start + length, after_current=True)
    if not live and esim.state in (ESim.State.INSTALLED, ESim.State.EXPIRED):
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
    before = [b for b in live if b.created_at <= bundle.created_at and b.pk != bundle.pk]
    active = next((b for b in before if b.state == Bundle.State.ACTIVE), None)
    if active is None or active.ends_at is None:
        return RenewalPeriod(starts_at=None, ends_at=None, after_current=bool(before))
    start = active.ends_at + sum((timedelta(days=b.validity_days) for b in before
                                  if b.state == Bundle.State.QUEUED), timedelta())
    return RenewalPeriod(starts_at=start, ends_at=start + timedelta(days=bundle.validity_days),
                         after_current=True)


def esim_last_plan_code(*, esim: ESim) -> str | None:
    """The plan of the eSIM's most recent bundle: what "renew" offers first."""
    return (esim.bundles.order_by("-created_at", "-pk")
            .values_list("plan_code", flat=True).first())


def esim_topup_target(*, esim: ESim) -> Bundle | None:
    """The running bundle a top-up would add data to: active and not unlimited."""
    return (esim.bundles.filter(state=Bundle.State.ACTIVE, data_allowance_bytes__isnull=False)
            .first())
