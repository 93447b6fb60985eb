from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404

from .models import Bundle, ESim

LIVE_STATES = (Bundle.State.ACTIVE, Bundle.State.QUEUED)


def esim_list_for_dashboard(*, owner) -> QuerySet[ESim]:
    """The owner's eSIMs with their live bundles: two queries however many there are."""
    live = (Bundle.objects.filter(state__in=LIVE_STATES).select_related("plan")
            .order_by("created_at", "pk"))
    return (ESim.objects.filter(owner=owner).exclude(state=ESim.State.CANCELLED)
            .prefetch_related(Prefetch("bundles", queryset=live, to_attr="live_bundles"))
            .order_by("created_at", "pk"))


def esim_get_for_owner(*, owner, pk: int) -> ESim:
    """Another customer's eSIM is a 404, never a 403: its existence is not disclosed."""
    return get_object_or_404(ESim, owner=owner, pk=pk)


def esim_current_bundle(esim: ESim) -> Bundle | None:
    bundles = esim.live_bundles if hasattr(esim, "live_bundles") else list(
        esim.bundles.filter(state__in=LIVE_STATES).order_by("created_at", "pk"))
    active = [b for b in bundles if b.state == Bundle.State.ACTIVE]
    return active[0] if active else (bundles[0] if bundles else None)
