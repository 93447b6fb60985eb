"""The sweeps' schedules as rows an operator edits in the admin.

Beat reads its schedule from django-celery-beat's tables (CELERY_BEAT_SCHEDULER). Each
sweep of settings.SWEEPS gets a row there, made with its default interval when it has
none, at every `migrate` (post_migrate, portal/apps.py) and by `manage.py sweeps`. An
existing row's interval and on/off are the operator's and are never written again, so an
edit in the admin survives a restart and a deploy. Only the task a row starts follows
the code: a renamed task would otherwise leave beat sending a name no worker knows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction

# A sweep given a new name: its row is renamed, keeping the operator's interval and on/off
# (old name -> new name).
RENAMED_SWEEPS = {"carrier-reconcile-sweep": "usage-poll-sweep"}


@dataclass(frozen=True)
class SweepRows:
    """What one install did: the sweeps given a row, and those whose task was renamed."""

    created: list[str]
    retargeted: list[str]


def sweep_defaults() -> dict[str, tuple[str, int]]:
    """Each sweep's task and default interval in seconds, from settings.SWEEPS."""
    sweeps: dict[str, dict[str, Any]] = settings.SWEEPS
    return {name: (sweep["task"], sweep["seconds"]) for name, sweep in sweeps.items()}


@transaction.atomic
def sweep_rows_install() -> SweepRows:
    """Give every sweep without a row one with its default interval, and point rows at
    their sweep's current task; leave every other field of an existing row alone."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    created, retargeted = [], []
    defaults = sweep_defaults()
    for old, new in RENAMED_SWEEPS.items():
        if new in defaults and not PeriodicTask.objects.filter(name=new).exists():
            for row in PeriodicTask.objects.filter(name=old):
                row.name = new
                row.save()
    for name, (task, seconds) in defaults.items():
        row = PeriodicTask.objects.select_for_update().filter(name=name).first()
        if row is None:
            PeriodicTask.objects.create(name=name, task=task,
                                        interval=_interval(IntervalSchedule, seconds))
            created.append(name)
        elif row.task != task:
            row.task = task
            row.save()  # save() tells a running beat that its schedule changed
            retargeted.append(name)
    return SweepRows(created=created, retargeted=retargeted)


def _interval(model, seconds: int):
    """An interval of `seconds`, shared with any row that already runs that often (the
    admin may have made duplicates, which the table does not forbid)."""
    every = model.objects.filter(every=seconds, period=model.SECONDS).order_by("pk").first()
    return every or model.objects.create(every=seconds, period=model.SECONDS)


def sweep_rows_after_migrate(sender, **kwargs) -> None:
    """post_migrate receiver: once django-celery-beat's tables exist, install the rows
    in the database just migrated."""
    if sender.label != "django_celery_beat":
        return
    using = kwargs.get("using", "default")
    if using != "default":
        return
    sweep_rows_install()
