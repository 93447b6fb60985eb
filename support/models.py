from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class StaffAction(models.Model):
    """Every action support takes on a customer's behalf, with who took it and why."""

    class Kind(models.TextChoices):
        REFUND = "refund", _("Refund")
        SELF_REFUND = "self_refund", _("Refund asked for by the customer")
        RETRY_ACTIVATION = "retry_activation", _("Retry activation")
        AUTO_RENEW_OFF = "auto_renew_off", _("Switch auto-renewal off")
        RESEND_INSTALL = "resend_install", _("Resend install instructions")
        EXTEND_VALIDITY = "extend_validity", _("Extend validity")
        SUSPEND = "suspend", _("Suspend at the carrier")
        RESUME = "resume", _("Resume at the carrier")
        TICKET_REPLY = "ticket_reply", _("Reply to a ticket")

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                              related_name="+", verbose_name=_("staff member"))
    kind = models.CharField(_("action"), max_length=30, choices=Kind.choices)
    order = models.ForeignKey("billing.Order", on_delete=models.PROTECT, null=True,
                              blank=True, related_name="staff_actions")
    esim = models.ForeignKey("esims.ESim", on_delete=models.PROTECT, null=True, blank=True,
                             related_name="staff_actions")
    ticket = models.ForeignKey("support.Ticket", on_delete=models.PROTECT, null=True,
                               blank=True, related_name="staff_actions")
    note = models.CharField(_("reason"), max_length=255, blank=True)
    outcome = models.CharField(_("outcome"), max_length=255, blank=True)
    at = models.DateTimeField(_("when"), default=timezone.now)

    class Meta:
        verbose_name = _("staff action")
        verbose_name_plural = _("staff actions")
        ordering = ["-at", "-pk"]

    def __str__(self):
        return f"{self.get_kind_display()} by {self.actor} at {self.at:%Y-%m-%d %H:%M}"


class Ticket(models.Model):
    """A customer's question to support, optionally about an order or an eSIM. Its
    status moves only through support/ticket_states.py."""

    class Status(models.TextChoices):
        OPEN = "open", _("Waiting for support")
        ANSWERED = "answered", _("Answered")
        CLOSED = "closed", _("Closed")

    customer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                 related_name="tickets", verbose_name=_("customer"))
    order = models.ForeignKey("billing.Order", on_delete=models.PROTECT, null=True,
                              blank=True, related_name="tickets", verbose_name=_("order"))
    esim = models.ForeignKey("esims.ESim", on_delete=models.PROTECT, null=True, blank=True,
                             related_name="tickets", verbose_name=_("eSIM"))
    subject = models.CharField(_("subject"), max_length=200)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices,
                              default=Status.OPEN)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)
    # When support last replied; kept when the customer writes again.
    answered_at = models.DateTimeField(_("last answered"), null=True, blank=True)
    # When it was closed; emptied when support writes on it again.
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)

    class Meta:
        verbose_name = _("support ticket")
        verbose_name_plural = _("support tickets")
        ordering = ["-updated_at", "-pk"]
        indexes = [models.Index(fields=["status", "-updated_at"], name="ticket_queue_idx")]
        constraints = [
            models.CheckConstraint(condition=~Q(status="answered")
                                   | Q(answered_at__isnull=False),
                                   name="ticket_answered_has_answered_at"),
            models.CheckConstraint(condition=Q(status="closed", closed_at__isnull=False)
                                   | (~Q(status="closed") & Q(closed_at__isnull=True)),
                                   name="ticket_closed_iff_closed_at"),
        ]

    def __str__(self):
        return f"#{self.pk} {self.subject}"


class TicketMessage(models.Model):
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                               related_name="+", verbose_name=_("author"))
    from_staff = models.BooleanField(_("from support"), default=False)
    body = models.TextField(_("message"))
    # A screenshot the customer attached (PNG, JPEG or WebP, size-checked on upload).
    # Stored outside the static and public media paths; served only to its ticket's
    # customer and to staff (support/views.py).
    attachment = models.FileField(_("screenshot"), upload_to="tickets/%Y/%m/", blank=True)
    attachment_name = models.CharField(_("screenshot file name"), max_length=200,
                                       blank=True)
    created_at = models.DateTimeField(_("sent"), default=timezone.now)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["created_at", "pk"]

    def __str__(self):
        return f"{self.ticket_id}: {self.body[:40]}"
