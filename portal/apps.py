from django.apps import AppConfig
from django.db.models.signals import post_migrate


class PortalConfig(AppConfig):
    name = "portal"

    def ready(self) -> None:
        from portal import audit

        from . import checks  # noqa: F401  (registers the deploy checks)
        from .schedules import sweep_rows_after_migrate

        # Orders, eSIMs, bundles and tickets keep a history of their changes.
        audit.register()

        # Every `migrate` (make run, docker/migrate.sh, the test database) gives each
        # sweep its schedule row when it has none (portal/schedules.py).
        post_migrate.connect(sweep_rows_after_migrate,
                             dispatch_uid="portal.sweep_rows_after_migrate")
