from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class StaffAction(models.Model):
    """Every action support takes on a customer's behalf, with who took it and why."""

    class Kind(models.TextChoices):
        REFUND = "refund", _("Refund")
        RETRY_ACTIVATION = "retry_activation", _("Retry activation")
        AUTO_RENEW_OFF = "auto_renew_off", _("Switch auto-renewal off")

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                              related_name="+", verbose_name=_("staff member"))
    kind = models.CharField(_("action"), max_length=30, choices=Kind.choices)
    order = models.ForeignKey("billing.Order", on_delete=models.PROTECT, null=True,
                              blank=True, related_name="staff_actions")
    esim = models.ForeignKey("esims.ESim", on_delete=models.PROTECT, null=True, blank=True,
                             related_name="staff_actions")
    note = models.CharField(_("reason"), max_length=255, blank=True)
    outcome = models.CharField(_("outcome"), max_length=255, blank=True)
    at = models.DateTimeField(_("when"), default=timezone.now)

    class Meta:
        verbose_name = _("staff action")
        verbose_name_plural = _("staff actions")
        ordering = ["-at", "-pk"]

    def __str__(self):
        return f"{self.get_kind_display()} by {self.actor} at {self.at:%Y-%m-%d %H:%M}"
