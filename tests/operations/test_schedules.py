"""The sweeps' schedules are rows an operator edits in the admin (portal/schedules.py):
made when missing, never written over, and every one starts a task a worker knows."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from portal.celery import app
from portal.schedules import sweep_defaults, sweep_rows_install

pytestmark = pytest.mark.django_db


def _every(name):
    return PeriodicTask.objects.select_related("interval").get(name=name).interval


def test_migrate_gives_every_sweep_its_row_with_the_default_interval():
    for name, (task, seconds) in sweep_defaults().items():
        row = PeriodicTask.objects.select_related("interval").get(name=name)
        assert row.task == task
        assert row.enabled
        assert (row.interval.every, row.interval.period) == (seconds, IntervalSchedule.SECONDS)


def test_the_reminder_sweep_and_the_carrier_poll_are_rows():
    tasks = set(PeriodicTask.objects.values_list("task", flat=True))
    assert "notifications.tasks.reminder_sweep" in tasks
    assert any(task.startswith("carrier.tasks.") for task in tasks)


def test_every_row_starts_a_task_the_worker_has_registered():
    app.loader.import_default_modules()
    unknown = {row.name: row.task for row in PeriodicTask.objects.all()
               if row.task not in app.tasks}
    assert unknown == {}


def test_an_admin_edit_survives_the_install_and_beat_starting(monkeypatch):
    # Beat drops connections it thinks stale, which would end the test's transaction.
    monkeypatch.setattr("django_celery_beat.schedulers.close_old_connections", lambda: None)
    slower = IntervalSchedule.objects.create(every=999, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.filter(name="renewal-sweep").update(interval=slower)
    PeriodicTask.objects.filter(name="gateway-event-sweep").update(enabled=False)

    assert sweep_rows_install().created == []
    call_command("sweeps", stdout=StringIO())
    scheduler = DatabaseScheduler(app=app, lazy=True)
    scheduler.setup_schedule()
    schedule = scheduler.schedule

    assert _every("renewal-sweep").every == 999
    assert schedule["renewal-sweep"].schedule.run_every == timedelta(seconds=999)
    assert not PeriodicTask.objects.get(name="gateway-event-sweep").enabled
    assert "gateway-event-sweep" not in schedule
    assert PeriodicTask.objects.filter(name="renewal-sweep").count() == 1


def test_a_deleted_row_comes_back_and_a_renamed_task_is_followed(settings):
    PeriodicTask.objects.filter(name="notification-sweep").delete()
    slower = IntervalSchedule.objects.create(every=777, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.filter(name="renewal-sweep").update(interval=slower, enabled=False)
    settings.SWEEPS = {**settings.SWEEPS, "renewal-sweep": {
        "task": "renewals.tasks.renewal_notice_sweep", "seconds": 60}}

    done = sweep_rows_install()

    assert done.created == ["notification-sweep"]
    assert done.retargeted == ["renewal-sweep"]
    row = PeriodicTask.objects.select_related("interval").get(name="renewal-sweep")
    assert (row.task, row.interval.every, row.enabled) == (
        "renewals.tasks.renewal_notice_sweep", 777, False)
    assert _every("notification-sweep").every == 300


def test_a_renamed_sweep_keeps_its_row_and_the_operators_interval(settings):
    PeriodicTask.objects.filter(name="usage-poll-sweep").delete()
    slower = IntervalSchedule.objects.create(every=555, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(name="carrier-reconcile-sweep", interval=slower,
                                task="carrier.tasks.esim_reconcile_sweep")

    done = sweep_rows_install()

    row = PeriodicTask.objects.select_related("interval").get(name="usage-poll-sweep")
    assert (row.task, row.interval.every) == ("carrier.tasks.usage_poll_sweep", 555)
    assert not PeriodicTask.objects.filter(name="carrier-reconcile-sweep").exists()
    assert done.created == [] and done.retargeted == ["usage-poll-sweep"]
