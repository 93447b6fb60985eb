from django.core.management.base import BaseCommand

from portal.schedules import sweep_defaults, sweep_rows_install


class Command(BaseCommand):
    help = ("Give every sweep without a schedule row one with its default interval "
            "(migrate does this too); rows edited in the admin are left as they are.")

    def handle(self, *args, **options):
        from django_celery_beat.models import PeriodicTask

        done = sweep_rows_install()
        rows = {row.name: row for row in PeriodicTask.objects.select_related("interval")
                .filter(name__in=sweep_defaults())}
        for name in sweep_defaults():
            row = rows[name]
            note = ("new" if name in done.created else
                    "task renamed" if name in done.retargeted else "kept")
            state = "on" if row.enabled else "off"
            self.stdout.write(f"{name:<26} {row.task:<45} {row.schedule!s:<24} {state} ({note})")
