"""Data alerts, out of data and plan ended: asked for when the carrier's report is taken
in (esims/signals.py).

Each is asked for through notifications_request, whose unique row per (kind, channel,
bundle, step) makes it go out once however often the same figure is reported, in
whatever order reports arrive, and however many polls see it.
"""

from collections.abc import Iterable

from django.conf import settings
from django.dispatch import receiver

from esims.models import Bundle, ESim
from esims.signals import BundleChange, bundles_changed

from .models import Notification
from .requests import About, notifications_request

K = Notification.Kind
# The bundle was running (or about to) before this change: its end is news.
_WAS_LIVE = (Bundle.State.QUEUED, Bundle.State.ACTIVE, None)


def alert_percents(esim: ESim) -> list[int]:
    """The eSIM's data alerts in percent used, ascending: the customer's own, else the
    portal's DATA_ALERT_PERCENTS. Values that are not whole percents from 1 to 99 are
    ignored (the field is JSON)."""
    chosen = esim.data_alert_percents
    if not isinstance(chosen, list):
        chosen = settings.DATA_ALERT_PERCENTS
    return sorted({p for p in chosen
                   if isinstance(p, int) and not isinstance(p, bool) and 1 <= p <= 99})


def _percent_crossed(change: BundleChange, percents: Iterable[int]) -> int | None:
    """The highest alert percent this change crossed (70% to 95% gives 90, not 75 and
    90: one message says where the customer is), or None."""
    bundle = change.bundle
    allowance = bundle.data_allowance_bytes or 0
    used = bundle.data_used_bytes
    crossed = [p for p in percents
               if change.used_before * 100 < p * allowance <= used * 100]
    return max(crossed, default=None)


def _out_of_data(change: BundleChange) -> bool:
    """The data ran out with this change: used reached the allowance, or the carrier
    says the bundle is depleted, while it was not before."""
    bundle = change.bundle
    allowance = bundle.data_allowance_bytes
    if allowance is None or change.state_before not in _WAS_LIVE:
        return False
    out_now = bundle.state == Bundle.State.DEPLETED or bundle.data_used_bytes >= allowance
    out_before = change.state_before == Bundle.State.DEPLETED or change.used_before >= allowance
    return out_now and not out_before


def alerts_for(changes: Iterable[BundleChange]) -> dict[str, list[About]]:
    """The messages these bundle changes call for, by kind."""
    wanted: dict[str, list[About]] = {K.DATA_ALERT: [], K.OUT_OF_DATA: [], K.ESIM_EXPIRED: []}
    for change in changes:
        bundle = change.bundle

        def about(threshold: int = 0, bundle: Bundle = bundle) -> About:
            return About(customer_id=bundle.esim.owner_id, bundle_id=bundle.pk,
                         esim_id=bundle.esim_id, threshold=threshold)

        if change.esim_expired:
            wanted[K.ESIM_EXPIRED].append(about())
        if bundle.data_allowance_bytes is None or change.state_before is None:
            continue  # unlimited, or new: nothing used yet
        if _out_of_data(change):
            wanted[K.OUT_OF_DATA].append(about())
        elif bundle.state == Bundle.State.ACTIVE:
            percent = _percent_crossed(change, alert_percents(bundle.esim))
            if percent is not None:
                wanted[K.DATA_ALERT].append(about(percent))
    return wanted


@receiver(bundles_changed, sender=Bundle, dispatch_uid="notifications.alerts")
def alerts_on_bundles_changed(sender, changes: list[BundleChange], **kwargs) -> None:
    """Ask for the data alerts, out-of-data and plan-ended messages of a batch of bundle
    changes, in its transaction: a kind's messages in one request."""
    for kind, about in alerts_for(changes).items():
        if about:
            notifications_request(kind=kind, about=about)
