from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = _("Notifications")

    def ready(self) -> None:
        # Their receivers of esims.signals.bundles_changed connect on import.
        from . import alerts, reminders  # noqa: F401
