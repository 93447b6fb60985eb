import urllib.parse
from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def days_left(ends_at: datetime | None, now: datetime) -> int | None:
    """Whole days of service left; a part-day counts as a day."""
    if ends_at is None:
        return None
    return max(0, int(-(-(ends_at - now).total_seconds() // 86400)))


class ESim(models.Model):
    """One eSIM profile on one of the customer's devices."""

    class State(models.TextChoices):
        PROVISIONING = "provisioning", _("Being prepared")
        READY = "ready", _("Ready to install")
        INSTALLED = "installed", _("Installed")
        SUSPENDED = "suspended", _("Suspended")
        EXPIRED = "expired", _("Expired")
        CANCELLED = "cancelled", _("Cancelled")

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                              related_name="esims", verbose_name=_("owner"))
    nickname = models.CharField(_("device nickname"), max_length=60)
    state = models.CharField(_("state"), max_length=20, choices=State.choices,
                             default=State.PROVISIONING)
    iccid = models.CharField(_("ICCID"), max_length=20, null=True, blank=True, unique=True)
    eid = models.CharField(_("EID"), max_length=32, blank=True)
    smdp_address = models.CharField(_("SM-DP+ address"), max_length=255, blank=True)
    matching_id = models.CharField(_("matching ID"), max_length=64, blank=True)
    auto_renew = models.BooleanField(_("auto-renewal"), default=False)
    renewal_plan = models.ForeignKey("plans.Plan", on_delete=models.PROTECT, null=True,
                                     blank=True, related_name="+",
                                     verbose_name=_("plan to renew with"))
    class RenewalAttention(models.TextChoices):
        NONE = "", _("Nothing")
        PAYMENT_FAILED = "payment_failed", _("The last renewal payment failed")
        NEEDS_CONFIRMATION = "needs_confirmation", _("The renewal payment needs confirming")

    # Shown on the dashboard card until the renewal is paid or the customer acts.
    renewal_attention = models.CharField(_("auto-renewal needs attention"), max_length=20,
                                         choices=RenewalAttention.choices, blank=True,
                                         default="")
    # When auto-renewal was last switched on: each time starts afresh (new attempts).
    auto_renew_since = models.DateTimeField(_("auto-renewal on since"), null=True, blank=True)
    renewal_payment_method = models.ForeignKey(
        "billing.PaymentMethod", on_delete=models.PROTECT, null=True, blank=True,
        related_name="+", verbose_name=_("card to renew with"))
    # When the auto-renewal sweep must next act on this eSIM (charge, retry, or look
    # again at a payment waiting for the customer); empty when nothing is due. Only
    # eSIMs with a time here are ever read by the sweep (partial index below).
    renew_at = models.DateTimeField(_("next auto-renewal step"), null=True, blank=True)
    # When to tell the customer about the coming charge; emptied once told.
    renewal_notice_at = models.DateTimeField(_("auto-renewal notice due"), null=True,
                                             blank=True)
    # "Skip this renewal" from a reminder: the running bundle whose auto-renewal is not
    # charged. Auto-renewal stays on and follows the next plan the customer buys.
    renewal_skipped_bundle = models.ForeignKey(
        "esims.Bundle", on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("auto-renewal skipped after"))
    # When the expiry-reminder sweep must next look at this eSIM (the next of the
    # REMINDER_DAYS before the end of its last paid period); empty when nothing is due.
    # Only eSIMs with a time here are read by the sweep (partial index below).
    reminder_due_at = models.DateTimeField(_("next expiry reminder"), null=True, blank=True)
    # The customer's own data alerts for this eSIM, in percent used (empty: the
    # portal's DATA_ALERT_PERCENTS).
    data_alert_percents = models.JSONField(_("data alerts (percent used)"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    ready_at = models.DateTimeField(_("ready to install at"), null=True, blank=True)
    installed_at = models.DateTimeField(_("installed at"), null=True, blank=True)
    synced_at = models.DateTimeField(_("last checked at the carrier"), null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("eSIM")
        verbose_name_plural = _("eSIMs")
        ordering = ["created_at", "pk"]
        indexes = [
            models.Index(fields=["owner", "created_at"], name="esim_owner_idx"),
            # The reconciliation sweep looks only at eSIMs the carrier may have news of.
            models.Index(fields=["synced_at"], name="esim_reconcile_idx",
                         condition=Q(state__in=["ready", "installed"])),
            models.Index(fields=["renew_at"], name="esim_renew_due_idx",
                         condition=Q(renew_at__isnull=False)),
            models.Index(fields=["renewal_notice_at"], name="esim_renew_notice_idx",
                         condition=Q(renewal_notice_at__isnull=False)),
            models.Index(fields=["reminder_due_at"], name="esim_reminder_due_idx",
                         condition=Q(reminder_due_at__isnull=False)),
        ]
        # Each state and the timestamps its moves set (esims/esim_states.py).
        constraints = [
            models.CheckConstraint(condition=~Q(state="ready") | Q(ready_at__isnull=False),
                                   name="esim_ready_has_ready_at"),
            models.CheckConstraint(
                condition=~Q(state="installed") | Q(installed_at__isnull=False),
                name="esim_installed_has_installed_at"),
            # Only a profile no device has is withdrawn.
            models.CheckConstraint(
                condition=~Q(state="cancelled") | Q(installed_at__isnull=True),
                name="esim_cancelled_never_installed"),
            # Only a profile that was ready or installed ends or is suspended.
            models.CheckConstraint(
                condition=(~Q(state__in=["expired", "suspended"]) | Q(ready_at__isnull=False)
                           | Q(installed_at__isnull=False)),
                name="esim_expired_or_suspended_was_ready"),
        ]

    def __str__(self):
        return f"{self.nickname} ({self.iccid or '-'})"

    @property
    def activation_code(self) -> str:
        """What the device needs: `1$<SM-DP+ host>$<matching ID>` (SGP.22 activation code)."""
        if not (self.smdp_address and self.matching_id):
            return ""
        return f"1${self.smdp_address}${self.matching_id}"

    @property
    def lpa_uri(self) -> str:
        return f"LPA:{self.activation_code}" if self.activation_code else ""

    @property
    def ios_install_url(self) -> str:
        return ("https://esimsetup.apple.com/esim_qrcode_provisioning?carddata="
                + urllib.parse.quote(self.lpa_uri, safe=""))

    @property
    def android_install_url(self) -> str:
        return ("https://esimsetup.android.com/esim_qrcode_provisioning?carddata="
                + urllib.parse.quote(self.lpa_uri, safe=""))

    @property
    def can_renew(self) -> bool:
        """A profile exists and is not withdrawn: a new plan can be added to it."""
        return self.state in (self.State.READY, self.State.INSTALLED, self.State.EXPIRED)

    @property
    def can_install(self) -> bool:
        return bool(self.activation_code) and self.state in (self.State.READY,
                                                             self.State.INSTALLED)


class Bundle(models.Model):
    """One paid period of service on an eSIM, with a snapshot of the plan bought."""

    class State(models.TextChoices):
        QUEUED = "queued", _("Queued")
        ACTIVE = "active", _("Active")
        DEPLETED = "depleted", _("Data used up")
        EXPIRED = "expired", _("Expired")
        REVOKED = "revoked", _("Revoked")

    esim = models.ForeignKey(ESim, on_delete=models.PROTECT, related_name="bundles")
    order = models.OneToOneField("billing.Order", on_delete=models.PROTECT,
                                 related_name="bundle")
    plan = models.ForeignKey("plans.Plan", on_delete=models.PROTECT, related_name="+")
    plan_code = models.CharField(_("plan code"), max_length=64)
    plan_name = models.CharField(_("plan name"), max_length=120)
    validity_days = models.PositiveIntegerField(_("validity (days)"))
    data_allowance_bytes = models.BigIntegerField(_("data allowance (bytes)"), null=True,
                                                  blank=True,
                                                  help_text=_("Empty means unlimited."))
    data_used_bytes = models.BigIntegerField(_("data used (bytes)"), default=0)
    state = models.CharField(_("state"), max_length=10, choices=State.choices,
                             default=State.QUEUED)
    carrier_reference = models.CharField(_("carrier reference"), max_length=64, unique=True)
    applied_at = models.DateTimeField(_("applied at the carrier"), null=True, blank=True)
    starts_at = models.DateTimeField(_("starts"), null=True, blank=True)
    ends_at = models.DateTimeField(_("ends"), null=True, blank=True)
    usage_reported_at = models.DateTimeField(_("usage reported at"), null=True, blank=True)
    # When the carrier said what we hold of the allowance and the period: a report said
    # no later than this is overtaken, and changes neither (esims/services.py).
    carrier_said_at = models.DateTimeField(_("last carrier report"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("bundle")
        verbose_name_plural = _("bundles")
        ordering = ["created_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["esim"], condition=Q(state="active"),
                                    name="bundle_one_active_per_esim"),
            models.CheckConstraint(condition=Q(data_used_bytes__gte=0),
                                   name="bundle_data_used_non_negative"),
        ]
        indexes = [
            models.Index(fields=["esim", "state"], name="bundle_esim_state_idx"),
        ]

    def __str__(self):
        return f"{self.plan_name} [{self.get_state_display()}]"

    @property
    def is_unlimited(self) -> bool:
        return self.data_allowance_bytes is None

    @property
    def data_remaining_bytes(self) -> int | None:
        if self.data_allowance_bytes is None:
            return None
        return max(0, self.data_allowance_bytes - self.data_used_bytes)

    @property
    def days_left(self) -> int | None:
        return days_left(self.ends_at, timezone.now())
