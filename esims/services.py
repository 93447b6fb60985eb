"""Every change to an eSIM or a bundle goes through here.

Carrier calls are made outside database transactions and carry identifiers the carrier
deduplicates on, so a step repeated after a crash or a timeout does nothing twice; each
step's result is saved with a conditional update so that two runs never both write it.
A change of state is one of the moves in esims/esim_states.py or esims/bundle_states.py.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from carrier import client as carrier
from portal.states import TransitionNotAllowed

from . import bundle_states, esim_states, selectors
from .models import Bundle, ESim

log = logging.getLogger(__name__)

_CARRIER_STATES = {"processing": Bundle.State.QUEUED, "queued": Bundle.State.QUEUED,
                   "active": Bundle.State.ACTIVE, "depleted": Bundle.State.DEPLETED,
                   "expired": Bundle.State.EXPIRED, "revoked": Bundle.State.REVOKED}


def esim_create_for_order(*, order) -> ESim:
    """A new eSIM for a paid new-eSIM order, with its first bundle waiting to be applied."""
    esim = ESim.objects.create(owner=order.customer, nickname=order.nickname)
    bundle_create_for_order(order=order, esim=esim)
    return esim


def bundle_create_for_order(*, order, esim: ESim) -> Bundle:
    order.esim = esim
    return bundles_create_for_orders(orders=[order])[0]


def bundles_create_for_orders(*, orders) -> list[Bundle]:
    """Each paid order's bundle, waiting to be applied at the carrier, in one statement."""
    return Bundle.objects.bulk_create([
        Bundle(esim=order.esim, order=order, plan=order.plan, plan_code=order.plan.code,
               plan_name=order.plan.name, validity_days=order.plan.validity_days,
               data_allowance_bytes=order.plan.data_bytes, carrier_reference=order.number)
        for order in orders])


def _carrier_iccid(esim: ESim) -> str:
    """The ICCID the carrier knows the eSIM by: it has one once provisioned."""
    if esim.iccid is None:
        raise ValueError(f"eSIM {esim.pk} has no ICCID: it has not been provisioned")
    return esim.iccid


def esim_provision(*, esim: ESim, call_prefix: str) -> ESim:
    """Reserve and release a profile for the eSIM at the SM-DP+ (ES2+), step by step."""
    if not esim.iccid:
        iccid = carrier.es2_download_order(call_id=f"{call_prefix}:downloadOrder")
        ESim.objects.filter(pk=esim.pk, iccid__isnull=True).update(iccid=iccid)
        esim.refresh_from_db()
    if not esim.matching_id:
        profile = carrier.es2_confirm_order(iccid=_carrier_iccid(esim),
                                            call_id=f"{call_prefix}:confirmOrder")
        ESim.objects.filter(pk=esim.pk, matching_id="").update(
            matching_id=profile.matching_id, smdp_address=profile.smdp_address)
        esim.refresh_from_db()
    return esim


def bundle_apply_at_carrier(*, bundle: Bundle) -> Bundle:
    error = bundles_apply_at_carrier(bundles=[bundle])[bundle.pk]
    if error is not None:
        raise error
    return Bundle.objects.get(pk=bundle.pk)


def bundles_apply_at_carrier(*, bundles: list[Bundle]) -> dict[int, carrier.CarrierError | None]:
    """Apply the bundles at the carrier, a hundred to a call (each one's reference makes
    a repeat a no-op there), then take in all the answers in one transaction. Returns,
    per bundle, None when it was applied or the CarrierError that stopped it."""
    outcome: dict[int, carrier.CarrierError | None] = {}
    answers = []
    for start in range(0, len(bundles), carrier.APPLY_BATCH):
        chunk = bundles[start:start + carrier.APPLY_BATCH]
        try:
            results = carrier.bundles_apply(items=[carrier.BundleApply(
                iccid=_carrier_iccid(bundle.esim), reference=bundle.carrier_reference,
                bundle_code=bundle.plan_code, kind="full", validity_days=bundle.validity_days,
                initial_bytes=bundle.data_allowance_bytes) for bundle in chunk])
        except carrier.CarrierError as exc:
            results = [exc] * len(chunk)
        for bundle, result in zip(chunk, results, strict=True):
            if isinstance(result, carrier.CarrierError):
                outcome[bundle.pk] = result
            else:
                answers.append((bundle, result))
                outcome[bundle.pk] = None
    if answers:
        now = timezone.now()
        with transaction.atomic():
            Bundle.objects.filter(pk__in=[bundle.pk for bundle, _answer in answers],
                                  applied_at__isnull=True).update(applied_at=now)
            for bundle, answer in answers:
                bundle_update_from_carrier(reference=bundle.carrier_reference,
                                           carrier_bundle=answer, reported_at=now)
    return outcome


def topup_apply_at_carrier(*, esim: ESim, reference: str, plan) -> None:
    """Add a top-up's data to the eSIM's running bundle at the carrier (the same
    reference twice is a no-op there), then take in the bundle's new allowance."""
    carrier.bundle_apply(iccid=_carrier_iccid(esim), reference=reference, bundle_code=plan.code,
                         kind="topup", validity_days=plan.validity_days,
                         initial_bytes=plan.data_bytes)
    esim_sync_from_carrier(esim_id=esim.pk)


def bundle_revoke(*, bundle: Bundle) -> None:
    """Withdraw a bundle at the carrier (if it got there) and here. Safe to repeat."""
    if bundle.applied_at is not None:
        carrier.bundle_revoke(reference=bundle.carrier_reference)
    bundle_states.bundle_mark_revoked(bundle_id=bundle.pk)


def esim_cancel_unused(*, esim: ESim, call_prefix: str) -> bool:
    """Withdraw the profile of a refunded new eSIM that no device has downloaded: it goes
    back to the carrier's pool and the eSIM is cancelled here. Returns False (and leaves
    it) when it is on a device already. Safe to repeat: the carrier answers a repeated
    call identifier with its first answer."""
    if not esim_states.ESIM.allows(esim.state, ESim.State.CANCELLED) or not esim.iccid:
        return False
    try:
        carrier.es2_cancel_order(iccid=esim.iccid, matching_id=esim.matching_id,
                                 call_id=f"{call_prefix}:cancelOrder")
    except carrier.CarrierRejected as exc:
        if exc.code == carrier.ES2_DOWNLOADED:
            return False
        if exc.code != carrier.ES2_NOT_ORDERED:
            raise
    try:
        esim_states.esim_cancel(esim_id=esim.pk)
    except TransitionNotAllowed:  # installed meanwhile (the report came in since)
        return False
    return True


def topup_revoke(*, esim: ESim, reference: str) -> None:
    """Take a top-up's data back at the carrier, then take in the new allowance."""
    carrier.bundle_revoke(reference=reference)
    esim_sync_from_carrier(esim_id=esim.pk)


def esims_renewal_settled(*, esim_ids: list[int]) -> None:
    """A renewal was paid (by hand or automatically), so a plan is waiting: nothing is
    due until it runs, when `esim_renewal_schedule` starts the next cycle."""
    if esim_ids:
        ESim.objects.filter(pk__in=esim_ids).update(renew_at=None, renewal_notice_at=None,
                                                    renewal_attention="")


def esim_renewal_schedule(*, esim_id: int, now: datetime | None = None) -> None:
    """Set when the auto-renewal sweep must next look at this eSIM, and when to tell the
    customer ahead of the charge, from its running bundle. Called when auto-renewal is
    switched on or changed, when a bundle starts and when its data crosses the
    threshold."""
    now = now or timezone.now()
    esim = ESim.objects.get(pk=esim_id)
    charge_at = notice_at = None
    if esim.auto_renew:
        charge_at = selectors.esim_renewal_charge_at(esim, now=now)  # none when skipped
        if charge_at is not None:
            notice_at = max(now, charge_at - timedelta(days=settings.AUTO_RENEW_NOTICE_DAYS))
            if charge_at - notice_at < timedelta(hours=1):
                notice_at = None  # too late to tell ahead; the receipt tells them
    ESim.objects.filter(pk=esim_id).update(renew_at=charge_at, renewal_notice_at=notice_at)


@transaction.atomic
def esim_record_download_progress(*, iccid: str, point: int, eid: str,
                                  at: datetime) -> ESim | None:
    """The SM-DP+ reports a device's download: 3 downloaded, 4 installed, 1 failed.

    Repeated or late reports change nothing: the state only moves forward.
    """
    esim = ESim.objects.select_for_update().filter(iccid=carrier.normalize_iccid(iccid)).first()
    if esim is None:
        return None
    changed = False
    if eid and not esim.eid:
        changed = bool(ESim.objects.filter(pk=esim.pk, eid="").update(
            eid=eid, updated_at=timezone.now()))
    if point == 4:
        changed = esim_states.esim_mark_installed(esim_id=esim.pk, at=at) or changed
    elif point == 1:
        log.warning("profile download failed on the device for eSIM %s", esim.pk)
    if changed:
        esim.refresh_from_db()
    return esim


@transaction.atomic(savepoint=False)  # no savepoint per bundle when taking in many
def bundle_update_from_carrier(*, reference: str, carrier_bundle: carrier.CarrierBundle,
                               reported_at: datetime) -> Bundle | None:
    """Take in what the carrier says of a bundle. Usage reports lag and may arrive out of
    order: an older report never overwrites a newer one, and the state moves only as
    esims/bundle_states.py allows (a report it refuses is logged, not raised)."""
    bundle = (Bundle.objects.select_for_update().select_related("esim")
              .filter(carrier_reference=reference).first())
    if bundle is None:
        return None
    if bundle.usage_reported_at and reported_at < bundle.usage_reported_at:
        return bundle
    was_due = selectors.renewal_threshold_reached(bundle)
    if carrier_bundle.initial_bytes is not None:
        bundle.data_allowance_bytes = carrier_bundle.initial_bytes
        bundle.data_used_bytes = max(0, carrier_bundle.initial_bytes
                                     - (carrier_bundle.remaining_bytes or 0))
    else:
        bundle.data_used_bytes = carrier_bundle.used_bytes
    bundle.starts_at = carrier_bundle.start or bundle.starts_at
    bundle.ends_at = carrier_bundle.end or bundle.ends_at
    bundle.usage_reported_at = reported_at
    moved = bundle_states.bundle_take_carrier_state(
        bundle=bundle, reported=_CARRIER_STATES.get(carrier_bundle.state, bundle.state),
        fields=["data_allowance_bytes", "data_used_bytes", "starts_at", "ends_at",
                "usage_reported_at"])
    started = moved and bundle.state == Bundle.State.ACTIVE
    # The eSIM is locked with the bundle (select_related above): its state is current.
    if started and bundle.esim.state == ESim.State.EXPIRED:
        # A renewal brought an expired eSIM back: the profile is on the device still.
        esim_states.esim_reactivate(esim_id=bundle.esim_id)
    elif bundle.state not in (Bundle.State.ACTIVE, Bundle.State.QUEUED):
        esim_states.esim_expire(esim_id=bundle.esim_id)  # if nothing is left to run
    if bundle.esim.auto_renew and bundle.state == Bundle.State.ACTIVE and (
            started or (selectors.renewal_threshold_reached(bundle) and not was_due)):
        esim_renewal_schedule(esim_id=bundle.esim_id)
    return bundle


_INSTALLED_AT_CARRIER = {"Installed"}


def esim_sync_from_carrier(*, esim_id: int) -> None:
    """Pull the carrier's view of the profile and of every bundle on the eSIM: after an
    install report, and from the reconciliation sweep, so that a callback the carrier
    never delivered is not news the customer never gets."""
    esim = ESim.objects.get(pk=esim_id)
    if not esim.iccid:
        return
    now = timezone.now()
    if esim.state == ESim.State.READY:
        profile = carrier.profile_get(iccid=esim.iccid)
        if profile.state in _INSTALLED_AT_CARRIER:
            esim_record_download_progress(iccid=esim.iccid, point=4, eid=profile.eid, at=now)
    for carrier_bundle in carrier.bundle_list(iccid=esim.iccid):
        bundle_update_from_carrier(reference=carrier_bundle.reference,
                                   carrier_bundle=carrier_bundle, reported_at=now)
    ESim.objects.filter(pk=esim_id).update(synced_at=now)


def esim_claim_for_reconciliation(*, older_than: timedelta, limit: int = 500) -> list[int]:
    """eSIMs not checked at the carrier for a while; each claimed with a conditional
    update, so sweeps running side by side never take the same one."""
    now = timezone.now()
    cutoff = now - older_than
    candidates = (ESim.objects.filter(state__in=[ESim.State.READY, ESim.State.INSTALLED])
                  .filter(Q(synced_at__lt=cutoff) | Q(synced_at__isnull=True))
                  .exclude(iccid__isnull=True)
                  .order_by("synced_at").values_list("pk", "synced_at")[:limit])
    return [pk for pk, synced in candidates
            if ESim.objects.filter(pk=pk, synced_at=synced).update(synced_at=now)]


def esim_rename(*, esim: ESim, nickname: str) -> ESim:
    esim.nickname = nickname
    esim.save(update_fields=["nickname", "updated_at"])
    return esim
