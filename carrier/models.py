from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class CarrierEvent(models.Model):
    """Every callback the carrier sent us, stored once: a repeated delivery is a no-op."""

    class Kind(models.TextChoices):
        DOWNLOAD_PROGRESS = "download_progress", _("Download progress (ES2+)")
        USAGE = "usage", _("Usage report")

    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    event_key = models.CharField(_("event key"), max_length=200)
    iccid = models.CharField(_("ICCID"), max_length=20, db_index=True)
    payload = models.JSONField(_("payload"))
    received_at = models.DateTimeField(_("received"), default=timezone.now)

    class Meta:
        verbose_name = _("carrier event")
        verbose_name_plural = _("carrier events")
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "event_key"], name="carrier_event_once"),
        ]

    def __str__(self):
        return f"{self.kind} {self.iccid} {self.event_key}"
