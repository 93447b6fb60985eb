"""Every change to an eSIM or a bundle goes through here.

Carrier calls are made outside database transactions and carry identifiers the carrier
deduplicates on, so a step repeated after a crash or a timeout does nothing twice; each
step's result is saved with a conditional update so that two runs never both write it.
A change of state is one of the moves in esims/esim_states.py or esims/bundle_states.py.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from carrier import client as carrier
from notifications.models import Notification
from notifications.requests import About, notifications_request
from portal.states import TransitionNotAllowed
from support import services as support_services
from support.models import StaffAction
from support.staff import ActionRefused, staff_action_guard

from . import bundle_states, esim_states, selectors
from .models import Bundle, ESim
from .signals import BundleChange, bundles_changed

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
    """Each paid order's bundle, waiting to be applied at the carrier, in one statement;
    the listeners hear of them in the same transaction."""
    with transaction.atomic(savepoint=False):
        bundles = Bundle.objects.bulk_create([
            Bundle(esim=order.esim, order=order, plan=order.plan, plan_code=order.plan.code,
                   plan_name=order.plan.name, validity_days=order.plan.validity_days,
                   data_allowance_bytes=order.plan.data_bytes, carrier_reference=order.number)
            for order in orders])
        _bundles_changed([BundleChange(bundle=bundle, used_before=0, state_before=None,
                                       period_changed=True, esim_expired=False)
                          for bundle in bundles])
    return bundles


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
            bundles_take_from_carrier(reports=[CarrierReport(bundle=answer, reported_at=now)
                                               for _bundle, answer in answers])
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
    with transaction.atomic():
        locked = Bundle.objects.select_for_update().select_related("esim").get(pk=bundle.pk)
        state_before = locked.state
        if bundle_states.bundle_mark_revoked(bundle_id=bundle.pk):
            locked.state = Bundle.State.REVOKED
            _bundles_changed([BundleChange(bundle=locked, used_before=locked.data_used_bytes,
                                           state_before=state_before, period_changed=True,
                                           esim_expired=False)])


class ProfileDownloaded(Exception):
    """A device has the eSIM's profile: it cannot be withdrawn any more."""


def esim_cancel_unused(*, esim: ESim, call_prefix: str) -> bool:
    """Withdraw the profile of a new eSIM no device has downloaded (a refund): ES2+
    cancelOrder puts it back in the carrier's pool and its activation code stops
    working, then the eSIM is cancelled here. Returns True once it is withdrawn (now, or
    before), False when there is nothing at the carrier to withdraw (no profile was
    reserved for it). Raises ProfileDownloaded, changing nothing, when it is installed as
    far as we know or the carrier answers that a device has downloaded it (the carrier's
    answer decides: we are told of installs, not of downloads), and CarrierError when
    the carrier failed. Safe to repeat: the carrier answers a repeated call identifier
    with its first answer, and "no order left" as withdrawn."""
    if esim.state == ESim.State.CANCELLED:
        return True
    if esim.installed_at is not None or esim.state == ESim.State.INSTALLED:
        raise ProfileDownloaded(f"eSIM {esim.pk} is installed")
    if not esim.iccid:
        return False
    try:
        carrier.es2_cancel_order(iccid=esim.iccid, matching_id=esim.matching_id,
                                 call_id=f"{call_prefix}:cancelOrder")
    except carrier.CarrierRejected as exc:
        if exc.code == carrier.ES2_DOWNLOADED:
            raise ProfileDownloaded(f"eSIM {esim.pk}: {exc}") from exc
        if exc.code != carrier.ES2_NOT_ORDERED:
            raise
    try:
        esim_states.esim_cancel(esim_id=esim.pk)
    except TransitionNotAllowed as moved:
        # Withdrawn at the carrier all the same; the report of the plans cancelOrder
        # revoked may have expired it meanwhile, and esim_cancel takes that too. Only an
        # install report taken in between leaves it elsewhere.
        log.error("eSIM %s withdrawn at the carrier but not cancelled here: %s", esim.pk, moved)
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


@dataclass(frozen=True)
class CarrierReport:
    """What the carrier said of one bundle, and when it said it (a callback's
    reported_at, or the moment we read its answer). Its usage figures may be older: the
    bundle's `usage_at` says when they hold for."""

    bundle: carrier.CarrierBundle
    reported_at: datetime


# What a report sets on a bundle besides its state.
_REPORT_FIELDS = ["data_allowance_bytes", "data_used_bytes", "starts_at", "ends_at",
                  "usage_reported_at", "carrier_said_at"]


def _report_take(bundle: Bundle, report: CarrierReport, *, now: datetime) -> None:
    """The rule for taking in a carrier report, written once for every path (callbacks,
    polls, answers to our own calls); sets the bundle's figures in memory.

    Usage only moves forward: data used is the larger of what we have and what is
    reported, so a stale, repeated or reordered report never lowers it (a top-up moves
    the allowance, never the use). Usage figures hold as of the carrier's `usage_at`,
    which is what `usage_reported_at` keeps (the dashboard's "updated ... ago"), and
    never later than now.

    The allowance and the period are taken from a report said after the one they came
    from (`carrier_said_at`), and whose state the table allows from ours: a report that
    lagged behind a newer one, or that says "active" of a bundle that has ended, is
    overtaken and fills in only a period we do not know yet. A time we hold that lies in
    the future (stored before this rule) is not believed, so it never blocks the real
    reports after it."""
    reported = report.bundle
    said_at = min(report.reported_at, now)
    usage_at = min(reported.usage_at or said_at, said_at)
    if reported.initial_bytes is not None:
        used = max(0, reported.initial_bytes - (reported.remaining_bytes or 0))
    else:
        used = reported.used_bytes
    bundle.data_used_bytes = max(bundle.data_used_bytes, used)
    held_usage = _believed(bundle.usage_reported_at, now=now)
    bundle.usage_reported_at = usage_at if held_usage is None else max(held_usage, usage_at)
    held_said = _believed(bundle.carrier_said_at, now=now)
    state = _CARRIER_STATES.get(reported.state, bundle.state)
    overtaken = ((held_said is not None and said_at <= held_said)
                 or (state != bundle.state and not bundle_states.BUNDLE.allows(bundle.state,
                                                                               state)))
    if overtaken:  # only a period we do not know yet
        bundle.starts_at = bundle.starts_at or reported.start
        bundle.ends_at = bundle.ends_at or reported.end
        return
    if reported.initial_bytes is not None:
        bundle.data_allowance_bytes = reported.initial_bytes
    bundle.starts_at = reported.start or bundle.starts_at
    bundle.ends_at = reported.end or bundle.ends_at
    bundle.carrier_said_at = said_at


def _believed(at: datetime | None, *, now: datetime) -> datetime | None:
    """A report time we hold, unless it lies in the future (a report dated ahead was
    stored before such reports were refused): then it is as if we held none."""
    return at if at is not None and at <= now else None


def _report_effects(bundle: Bundle, *, moved: bool, was_due: bool) -> bool:
    """What a bundle's new state means for its eSIM: a plan starting on an expired eSIM
    brings it back, the last plan ending expires it, and auto-renewal is rescheduled when
    a plan starts or its data crosses the renewal threshold. Returns whether the eSIM
    expired."""
    expired = False
    started = moved and bundle.state == Bundle.State.ACTIVE
    # The eSIM is locked with the bundle (select_related): its state is current.
    if started and bundle.esim.state == ESim.State.EXPIRED:
        # A renewal brought an expired eSIM back: the profile is on the device still.
        esim_states.esim_reactivate(esim_id=bundle.esim_id)
    elif moved and bundle.state not in selectors.LIVE_STATES:
        expired = esim_states.esim_expire(esim_id=bundle.esim_id)  # if nothing is left
    if bundle.esim.auto_renew and bundle.state == Bundle.State.ACTIVE and (
            started or (selectors.renewal_threshold_reached(bundle) and not was_due)):
        esim_renewal_schedule(esim_id=bundle.esim_id)
    return expired


def _bundles_changed(changes: list[BundleChange]) -> None:
    """Tell the listeners (data alerts, reminders) in the transaction of the change."""
    if changes:
        bundles_changed.send(sender=Bundle, changes=changes)


@transaction.atomic(savepoint=False)
def bundles_take_from_carrier(*, reports: list[CarrierReport]) -> dict[str, Bundle]:
    """Take in what the carrier says of many bundles in one transaction: the bundles are
    locked with one query (with their eSIMs), each report is taken in by `_report_take`,
    a state moves only as esims/bundle_states.py allows (a report it refuses is logged,
    not raised), and the bundles whose state stays are saved with one bulk update.
    Listeners hear of all changes at once. Returns the bundles by reference."""
    now = timezone.now()
    references = [report.bundle.reference for report in reports]
    bundles = {bundle.carrier_reference: bundle for bundle in (
        Bundle.objects.select_for_update().select_related("esim")
        .filter(carrier_reference__in=references).order_by("pk"))}
    taken = []
    unmoved: dict[int, Bundle] = {}
    for report in reports:
        bundle = bundles.get(report.bundle.reference)
        if bundle is None:
            continue
        before = (bundle.data_used_bytes, bundle.state, bundle.starts_at, bundle.ends_at)
        was_due = selectors.renewal_threshold_reached(bundle)
        _report_take(bundle, report, now=now)
        state = _CARRIER_STATES.get(report.bundle.state, bundle.state)
        moved = False
        if state != bundle.state:
            moved = bundle_states.bundle_take_carrier_state(bundle=bundle, reported=state,
                                                            fields=_REPORT_FIELDS)
            unmoved.pop(bundle.pk, None)
        else:
            unmoved[bundle.pk] = bundle
        taken.append((bundle, before, moved, was_due))
    if unmoved:
        Bundle.objects.bulk_update(list(unmoved.values()), _REPORT_FIELDS)
    # Once every figure is saved: the eSIM's moves and its renewal read them.
    changes = [BundleChange(
        bundle=bundle, used_before=before[0], state_before=before[1],
        period_changed=(bundle.state, bundle.starts_at, bundle.ends_at) != before[1:],
        esim_expired=_report_effects(bundle, moved=moved, was_due=was_due))
        for bundle, before, moved, was_due in taken]
    _bundles_changed(changes)
    return bundles


def bundle_update_from_carrier(*, reference: str, carrier_bundle: carrier.CarrierBundle,
                               reported_at: datetime) -> Bundle | None:
    """Take in what the carrier says of one bundle (see bundles_take_from_carrier)."""
    return bundles_take_from_carrier(reports=[
        CarrierReport(bundle=carrier_bundle, reported_at=reported_at)]).get(reference)


_INSTALLED_AT_CARRIER = {"Installed"}


def esims_take_from_carrier(*, esims: list[ESim], answers: dict[str, carrier.EsimReport],
                            read_at: datetime) -> None:
    """Take in the carrier's answers about eSIMs read at `read_at`: a ready eSIM the
    carrier has installed is installed here (its report was lost), then every bundle's
    report, in one transaction for the lot."""
    with transaction.atomic():
        for esim in esims:
            answer = answers.get(esim.iccid or "")
            if (answer is not None and esim.state == ESim.State.READY
                    and answer.profile_state in _INSTALLED_AT_CARRIER):
                esim_record_download_progress(iccid=answer.iccid, point=4, eid=answer.eid,
                                              at=read_at)
        bundles_take_from_carrier(reports=[
            CarrierReport(bundle=bundle, reported_at=read_at)
            for answer in answers.values() for bundle in answer.bundles])
        ESim.objects.filter(pk__in=[esim.pk for esim in esims]).update(synced_at=read_at)


def esim_sync_from_carrier(*, esim_id: int) -> None:
    """Pull the carrier's view of the profile and of every bundle on the eSIM: after an
    install report, after a top-up, and wherever one eSIM must be current now."""
    esim = ESim.objects.get(pk=esim_id)
    if not esim.iccid:
        return
    read_at = timezone.now()
    profile_state, eid = "", ""
    if esim.state == ESim.State.READY:
        profile = carrier.profile_get(iccid=esim.iccid)
        profile_state, eid = profile.state, profile.eid
    answer = carrier.EsimReport(iccid=esim.iccid, profile_state=profile_state, eid=eid,
                                bundles=carrier.bundle_list(iccid=esim.iccid))
    esims_take_from_carrier(esims=[esim], answers={esim.iccid: answer}, read_at=read_at)


def esims_poll_carrier(*, esim_ids: list[int]) -> int:
    """The usage feed: read the profiles and bundles of these eSIMs at the carrier, a
    hundred to a call, and take the answers in. An eSIM the carrier does not know is
    logged and left. Returns how many eSIMs were answered; a failure of a whole call
    (the carrier down or busy) is raised, after what was read before it is taken in."""
    esims = list(ESim.objects.filter(pk__in=esim_ids, iccid__isnull=False))
    taken = 0
    for start in range(0, len(esims), carrier.QUERY_BATCH):
        chunk = esims[start:start + carrier.QUERY_BATCH]
        read_at = timezone.now()
        results = carrier.bundles_query(iccids=[_carrier_iccid(esim) for esim in chunk])
        answers: dict[str, carrier.EsimReport] = {}
        for iccid, result in results.items():
            if isinstance(result, carrier.CarrierError):
                log.warning("usage poll: %s", result)
            else:
                answers[iccid] = result
        esims_take_from_carrier(esims=chunk, answers=answers, read_at=read_at)
        taken += len(answers)
    return taken


def esims_claim_for_usage_poll(*, older_than: timedelta, limit: int = 10_000) -> list[int]:
    """eSIMs the usage feed must ask the carrier about: ready ones (to hear of the
    install) and installed ones with a plan running or waiting, not asked for
    `older_than`. Claimed in one statement that skips rows another sweep holds, so
    sweeps running side by side never take the same one."""
    now = timezone.now()
    cutoff = now - older_than
    live = Bundle.objects.filter(esim=OuterRef("pk"), state__in=selectors.LIVE_STATES)
    with transaction.atomic():
        claimed = list(
            ESim.objects.select_for_update(skip_locked=True)
            .filter(state__in=[ESim.State.READY, ESim.State.INSTALLED])
            .filter(Q(synced_at__lt=cutoff) | Q(synced_at__isnull=True))
            .filter(Q(state=ESim.State.READY) | Exists(live))
            .exclude(iccid__isnull=True)
            .order_by(F("synced_at").asc(nulls_first=True)).values_list("pk", flat=True)[:limit])
        ESim.objects.filter(pk__in=claimed).update(synced_at=now)
    return claimed


def esim_rename(*, esim: ESim, nickname: str) -> ESim:
    esim.nickname = nickname
    esim.save(update_fields=["nickname", "updated_at"])
    return esim


# --- Support's actions on an eSIM (the admin; docs/support-desk.md). Each asks the
# carrier first, outside any transaction and safe to repeat, then makes its change here
# and records who did it and why in the same transaction
# (support.services.staff_action_record). The form's `since` (support/staff.py) makes a
# form submitted twice act once.

# The most days support may add to a running plan at once.
EXTEND_DAYS_MAX = 90


def esim_extend(*, esim_id: int, days: int, since: int, actor, reason: str) -> Bundle:
    """Support moves the end of the plan running on the eSIM `days` later, at the carrier
    and here, and returns the bundle as extended. The plans queued behind it start that
    much later; the expiry reminders follow the new end (`bundles_changed`) and so does
    the auto-renewal charge (`esim_renewal_schedule`).

    The extension's reference at the carrier names the bundle, the form (`since`) and
    the days, so the same form sent again (a double click, a retry after a timeout or
    after a crash between the carrier's answer and our commit) is the same extension,
    which the carrier makes once. Raises ActionRefused when no plan runs (one waiting to
    start has no end yet: it runs its full length from its start), ActionDoneAlready
    when extended since the form was shown, and CarrierError when the carrier failed or
    refused: nothing is changed here then, and sending the same form again is safe."""
    if not 1 <= days <= EXTEND_DAYS_MAX:
        raise ValueError(f"days must be 1 to {EXTEND_DAYS_MAX}, not {days}")
    esim = ESim.objects.get(pk=esim_id)
    staff_action_guard(kind=StaffAction.Kind.EXTEND_VALIDITY, since=since, esim=esim)
    running = selectors.esim_running_bundle(esim=esim)
    if running is None or running.ends_at is None:
        raise ActionRefused(_("No plan is running on this eSIM, so there is no end to move. "
                              "A plan waiting to start runs its full length from its start."))
    extension = f"{running.carrier_reference}-ext{since}-{days}d"
    answer = carrier.bundle_extend(reference=running.carrier_reference, extension=extension,
                                   days=days)
    with transaction.atomic():
        esim = ESim.objects.select_for_update().get(pk=esim_id)
        staff_action_guard(kind=StaffAction.Kind.EXTEND_VALIDITY, since=since, esim=esim)
        bundles_take_from_carrier(reports=[CarrierReport(bundle=answer,
                                                         reported_at=timezone.now())])
        bundle = Bundle.objects.get(pk=running.pk)
        if esim.auto_renew:
            esim_renewal_schedule(esim_id=esim.pk)
        ends = f"{bundle.ends_at:%Y-%m-%d %H:%M} UTC" if bundle.ends_at else "?"
        support_services.staff_action_record(
            actor=actor, kind=StaffAction.Kind.EXTEND_VALIDITY, esim=esim,
            order=bundle.order, note=reason,
            outcome=f"+{days} d, ends {ends} (carrier extension {extension})")
    return bundle


def esim_suspend_at_carrier(*, esim_id: int, actor, reason: str) -> None:
    """Support suspends the eSIM's service at the carrier (no data flows; its plans keep
    their dates), then here. Raises TransitionNotAllowed, doing nothing, unless it is
    ready or installed (esims/esim_states.py), and CarrierError when the carrier failed.
    Should the change here fail after the carrier suspended it (the eSIM moved
    meanwhile, the record could not be written), the carrier is asked to resume it, so
    both sides agree and the action can simply be taken again."""
    esim = ESim.objects.get(pk=esim_id)
    esim_states.ESIM.check(pk=esim.pk, current=esim.state, to=ESim.State.SUSPENDED)
    iccid = _carrier_iccid(esim)
    carrier.esim_suspend(iccid=iccid)
    try:
        with transaction.atomic():
            esim_states.esim_suspend(esim_id=esim.pk)
            esim_renewal_schedule(esim_id=esim.pk)  # no auto-renewal while suspended
            support_services.staff_action_record(actor=actor, kind=StaffAction.Kind.SUSPEND,
                                                 esim=esim, note=reason)
    except Exception:
        if not ESim.objects.filter(pk=esim.pk, state=ESim.State.SUSPENDED).exists():
            _carrier_undo(carrier.esim_resume, iccid)
        raise


def esim_resume_at_carrier(*, esim_id: int, actor, reason: str) -> str:
    """Support gives a suspended eSIM its service back, at the carrier then here; returns
    the state it is in again (installed, or ready if no device has it yet). Raises
    TransitionNotAllowed, doing nothing, unless it is suspended, and CarrierError when
    the carrier failed. A failure here after the carrier resumed it suspends it there
    again (as `esim_suspend_at_carrier` undoes its own)."""
    esim = ESim.objects.get(pk=esim_id)
    back_to = ESim.State.INSTALLED if esim.installed_at else ESim.State.READY
    esim_states.ESIM.check(pk=esim.pk, current=esim.state, to=back_to)
    iccid = _carrier_iccid(esim)
    carrier.esim_resume(iccid=iccid)
    try:
        with transaction.atomic():
            state = esim_states.esim_resume(esim_id=esim.pk)
            esim_renewal_schedule(esim_id=esim.pk)
            support_services.staff_action_record(actor=actor, kind=StaffAction.Kind.RESUME,
                                                 esim=esim, note=reason)
    except Exception:
        if ESim.objects.filter(pk=esim.pk, state=ESim.State.SUSPENDED).exists():
            _carrier_undo(carrier.esim_suspend, iccid)
        raise
    return state


def _carrier_undo(call, iccid: str) -> None:
    """Put the carrier back as it was after our own change failed; if the carrier fails
    now, the two sides disagree until support acts again, which is logged loudly."""
    try:
        call(iccid=iccid)
    except carrier.CarrierError:
        log.exception("eSIM %s: the carrier could not be put back after a failed action",
                      iccid)


def esim_install_resend(*, esim_id: int, since: int, actor, reason: str) -> list[int]:
    """Support sends the "ready to install" message again (install link, QR code page).
    Returns the ids of the messages made (one per channel the customer gets it on).

    A message is sent once (notifications/models.py), so each copy is a message of its
    own: about the eSIM's first plan, with the copy's number as its step, in the same
    transaction as the action's record. The n-th copy can be made only once, and the
    form's `since` refuses a second submission. Raises ActionRefused when the eSIM is not
    waiting to be installed (a downloaded profile cannot be downloaded again) or no
    channel reaches the customer (their address bounced, or they switched it off), and
    ActionDoneAlready when sent again since the form was shown."""
    with transaction.atomic():
        esim = ESim.objects.select_for_update().get(pk=esim_id)
        staff_action_guard(kind=StaffAction.Kind.RESEND_INSTALL, since=since, esim=esim)
        first = esim.bundles.order_by("created_at", "pk").first()
        if esim.state != ESim.State.READY or not esim.activation_code or first is None:
            raise ActionRefused(_("This eSIM is not waiting to be installed: %(state)s.")
                                % {"state": esim.get_state_display()})
        copy = StaffAction.objects.filter(kind=StaffAction.Kind.RESEND_INSTALL,
                                          esim=esim).count() + 1
        made = notifications_request(kind=Notification.Kind.ESIM_READY, about=[About(
            customer_id=esim.owner_id, bundle_id=first.pk, esim_id=esim.pk, threshold=copy)])
        if not made:
            raise ActionRefused(_("No message went out: the customer gets this message on "
                                  "no channel now (their email address bounced, or they "
                                  "switched these messages off)."))
        support_services.staff_action_record(
            actor=actor, kind=StaffAction.Kind.RESEND_INSTALL, esim=esim, note=reason,
            outcome=f"copy {copy}: notification " + ", ".join(map(str, made)))
    return made

