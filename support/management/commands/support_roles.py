from django.core.management.base import BaseCommand, CommandError

from support.roles import ROLES, RoleError, roles_sync


class Command(BaseCommand):
    help = ("Create or correct the staff groups \"Support agent\" and \"Catalogue manager\" "
            "(support/roles.py). Idempotent: run it after every migrate.")

    def handle(self, *args, **options):
        try:
            changes = roles_sync()
        except RoleError as error:
            raise CommandError(str(error)) from error
        for line in changes:
            self.stdout.write(line)
        self.stdout.write(f"Roles {', '.join(ROLES)}: "
                          + ("updated." if changes else "already up to date."))
