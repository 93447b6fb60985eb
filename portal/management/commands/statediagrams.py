from django.core.management.base import BaseCommand

from portal.statedocs import DOC_PATH, render


class Command(BaseCommand):
    help = "Write docs/state-machines.md from the state machines' transition tables."

    def handle(self, *args, **options):
        DOC_PATH.write_text(render())
        self.stdout.write(f"wrote {DOC_PATH}")
