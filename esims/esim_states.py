"""Every move of an ESim, and nothing else (portal/states.py).

    provisioning ──mark ready──▶ ready ──install report──▶ installed
    provisioning ──install report (before mark ready)────▶ installed
    provisioning, ready ──cancel (no device has the profile)──▶ cancelled
    expired (never installed) ──cancel──▶ cancelled
    ready, installed ──expire (no plan queued or running)──▶ expired
    expired ──reactivate (a new plan started on the device)──▶ installed
    ready, installed ──suspend──▶ suspended ──resume──▶ installed, or ready if never installed

Each function below is one move: it names the states it moves from (those the table
allows, or fewer) in the WHERE clause of the UPDATE that makes it, together with the
timestamps of the move, so two workers never both make it. A move the portal decides
on raises TransitionNotAllowed when the eSIM is elsewhere; a move the carrier reports
returns False instead (a repeated or late report is no error). esims/models.py holds
the database constraints that tie each state to its timestamps.

Suspended is support's suspend and resume at the carrier
(`esims.services.esim_suspend_at_carrier`, `esim_resume_at_carrier`), which call the
carrier first and then make these moves; `esim_suspend` and `esim_resume` make no
carrier call themselves. A suspended eSIM is neither expired by its plan ending nor
installed by a late install report.
"""

from datetime import datetime

from django.db.models import Exists, F, OuterRef, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from portal.states import StateMachine, TransitionNotAllowed

from .models import Bundle, ESim

S = ESim.State

ESIM = StateMachine("ESim", ESim, field_name="state", initial=(S.PROVISIONING,), table={
    S.PROVISIONING: (S.READY, S.INSTALLED, S.CANCELLED),
    S.READY: (S.INSTALLED, S.CANCELLED, S.EXPIRED, S.SUSPENDED),
    S.INSTALLED: (S.EXPIRED, S.SUSPENDED),
    S.SUSPENDED: (S.INSTALLED, S.READY),
    # Expired → cancelled only for a profile no device ever had (esim_cancel): the
    # carrier's report of the plans a refund's cancelOrder revoked can expire it first.
    S.EXPIRED: (S.INSTALLED, S.CANCELLED),
    S.CANCELLED: (),
})


def esims_mark_ready(*, esim_ids: list[int]) -> int:
    """Profiles released at the carrier: ready to install. Returns how many moved; any
    past being prepared (a renewal's eSIM, one installed already) stays where it is."""
    now = timezone.now()
    return ESIM.move(ESim.objects.filter(pk__in=esim_ids, state=S.PROVISIONING),
                     to=S.READY, ready_at=now, updated_at=now)


def esim_mark_installed(*, esim_id: int, at: datetime) -> bool:
    """The SM-DP+ reports the profile installed on a device at `at`. False when the
    report moves nothing: installed already, or expired, suspended or cancelled since."""
    return bool(ESIM.move(
        ESim.objects.filter(pk=esim_id, state__in=(S.PROVISIONING, S.READY)),
        to=S.INSTALLED, installed_at=at, updated_at=timezone.now()))


def esim_cancel(*, esim_id: int) -> None:
    """The profile was withdrawn at the carrier before any device had it (a refund): the
    eSIM leaves the dashboard and nothing renews it. An eSIM that expired without ever
    being installed is cancelled too (a refund's cancelOrder makes the carrier revoke its
    plans, and that report may be taken first). Raises TransitionNotAllowed once it is
    installed, or was ever."""
    moved = ESIM.move(ESim.objects.filter(pk=esim_id, installed_at__isnull=True),
                      to=S.CANCELLED, auto_renew=False, renew_at=None,
                      renewal_notice_at=None, updated_at=timezone.now())
    if not moved:
        current = ESim.objects.filter(pk=esim_id).values_list("state", flat=True).first()
        raise TransitionNotAllowed(ESIM.name, esim_id, current, S.CANCELLED)


def esim_expire(*, esim_id: int) -> bool:
    """A ready or installed eSIM with no plan queued or running left has expired. False
    when a plan is left, or the eSIM is elsewhere."""
    live = Bundle.objects.filter(esim=OuterRef("pk"),
                                 state__in=(Bundle.State.QUEUED, Bundle.State.ACTIVE))
    return bool(ESIM.move(ESim.objects.filter(pk=esim_id).exclude(Exists(live)),
                          to=S.EXPIRED, updated_at=timezone.now()))


def esim_reactivate(*, esim_id: int) -> bool:
    """A new plan started on an expired eSIM (a renewal): the profile is on the device
    still, so it is installed again. One that expired before any install report came
    counts as installed from now. False when the eSIM is not expired."""
    now = timezone.now()
    return bool(ESIM.move(ESim.objects.filter(pk=esim_id, state=S.EXPIRED), to=S.INSTALLED,
                          installed_at=Coalesce(F("installed_at"), Value(now)), updated_at=now))


def esim_suspend(*, esim_id: int) -> None:
    """Suspended (at the carrier, by whoever calls this). Raises TransitionNotAllowed
    unless the eSIM is ready or installed."""
    ESIM.move_one(esim_id, to=S.SUSPENDED, updated_at=timezone.now())


def esim_resume(*, esim_id: int) -> str:
    """Back from suspended: installed if it ever was, else ready to install. Returns the
    state it is in; raises TransitionNotAllowed unless it was suspended."""
    now = timezone.now()
    suspended = ESim.objects.filter(pk=esim_id, state=S.SUSPENDED)
    if ESIM.move(suspended.filter(installed_at__isnull=False), to=S.INSTALLED, updated_at=now):
        return S.INSTALLED
    if ESIM.move(suspended.filter(installed_at__isnull=True), to=S.READY, updated_at=now):
        return S.READY
    row = ESim.objects.filter(pk=esim_id).values("state", "installed_at").first()
    raise TransitionNotAllowed(
        ESIM.name, esim_id, row and row["state"],
        S.READY if row and row["installed_at"] is None else S.INSTALLED)
