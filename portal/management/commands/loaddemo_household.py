import time

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from portal.demo_household import (
    SimulatorError,
    household_load,
    portal_answers,
    simulator_answers,
)

from .loaddemo import DEMO_EMAIL


class Command(BaseCommand):
    help = ("Give the demo customer a household of eSIMs in every state, at the carrier "
            "simulator (after loaddemo; idempotent).")

    def add_arguments(self, parser):
        parser.add_argument("--wait", type=int, default=60,
                            help="seconds to wait for the carrier simulator to answer")

    def handle(self, *args, **options):
        customer = get_user_model().objects.filter(email=DEMO_EMAIL).first()
        if customer is None:
            raise CommandError(f"No {DEMO_EMAIL}: run `manage.py loaddemo` first.")
        deadline = time.monotonic() + options["wait"]
        # The simulator calls the portal back at once: both must be up first.
        while not (simulator_answers() and portal_answers()):
            if time.monotonic() > deadline:
                raise CommandError("The carrier simulator (CARRIER_URL) or the portal "
                                   "(PORTAL_BASE_URL) does not answer.")
            time.sleep(1)
        try:
            lines = household_load(customer)
        except SimulatorError as exc:
            raise CommandError(f"The carrier simulator refused: {exc}") from exc
        self.stdout.write(f"Demo household of {DEMO_EMAIL}:")
        for line in lines:
            self.stdout.write(f"  {line}")
