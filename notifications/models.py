from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Notification(models.Model):
    """One message that must go out on one channel, written in the same transaction as
    the event it is about, before anything is sent; at most one per (kind, channel) and
    the order, payment or support reply it is about, or per (kind, channel, bundle,
    threshold) for messages about a plan (the day of an expiry reminder, the percent of
    a data alert)."""

    class Kind(models.TextChoices):
        ORDER_PAID = "order_paid", _("Payment received, with receipt")
        ESIM_READY = "esim_ready", _("eSIM ready to install")
        SUPPORT_REPLIED = "support_replied", _("Support replied")
        RENEWAL_UPCOMING = "renewal_upcoming", _("Upcoming auto-renewal charge")
        PAYMENT_FAILED = "payment_failed", _("Auto-renewal payment failed")
        PAYMENT_ACTION_REQUIRED = "payment_action", _("Auto-renewal needs authentication")
        AUTO_RENEW_STOPPED = "auto_renew_off", _("Auto-renewal switched off")
        DUPLICATE_REFUNDED = "duplicate_refunded", _("Duplicate payment refunded")
        EXPIRY_REMINDER = "expiry_reminder", _("Plan ending soon")
        DATA_ALERT = "data_alert", _("Data running low")
        OUT_OF_DATA = "out_of_data", _("Out of data")
        ESIM_EXPIRED = "esim_expired", _("Plan ended")

    class Channel(models.TextChoices):
        EMAIL = "email", _("Email")
        SMS = "sms", _("SMS")

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting to be sent")
        SENDING = "sending", _("Being sent")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    customer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                 related_name="notifications")
    kind = models.CharField(_("kind"), max_length=30, choices=Kind.choices)
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    order = models.ForeignKey("billing.Order", on_delete=models.PROTECT, null=True,
                              blank=True, related_name="notifications")
    ticket_message = models.ForeignKey("support.TicketMessage", on_delete=models.PROTECT,
                                       null=True, blank=True, related_name="notifications")
    # An upcoming auto-renewal is about the bundle it would follow; a failed attempt is
    # about its payment (one message per attempt).
    bundle = models.ForeignKey("esims.Bundle", on_delete=models.PROTECT, null=True,
                               blank=True, related_name="notifications")
    payment = models.ForeignKey("billing.Payment", on_delete=models.PROTECT, null=True,
                                blank=True, related_name="notifications")
    # The eSIM a message is about, when it is about one (for the customer's history and
    # support); set with the bundle, order or payment that names it.
    esim = models.ForeignKey("esims.ESim", on_delete=models.PROTECT, null=True, blank=True,
                             related_name="notifications")
    # Which of a kind's steps: days before the end for an expiry reminder, percent used
    # for a data alert; 0 for kinds that have one step.
    threshold = models.PositiveIntegerField(_("step"), default=0)
    # The address or number it went to, written when it is sent.
    recipient = models.CharField(_("sent to"), max_length=254, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices,
                              default=Status.PENDING)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    # Tries so far, and when the next may start: a message is claimed only once it is
    # due, backs off after each failure (portal/tasks.py:retry_delay) and ends as failed
    # after NOTIFICATION_MAX_ATTEMPTS.
    attempt_count = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    claimed_at = models.DateTimeField(_("claimed"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "channel", "order"],
                                    condition=Q(order__isnull=False),
                                    name="notification_once_per_order"),
            models.UniqueConstraint(fields=["kind", "channel", "ticket_message"],
                                    condition=Q(ticket_message__isnull=False),
                                    name="notification_once_per_reply"),
            models.UniqueConstraint(fields=["kind", "channel", "bundle", "threshold"],
                                    condition=Q(bundle__isnull=False),
                                    name="notification_once_per_bundle_step"),
            models.UniqueConstraint(fields=["kind", "channel", "payment"],
                                    condition=Q(payment__isnull=False),
                                    name="notification_once_per_payment"),
            models.CheckConstraint(condition=~Q(status="sent") | Q(sent_at__isnull=False),
                                   name="notification_sent_has_sent_at"),
            models.CheckConstraint(condition=Q(order__isnull=False)
                                   | Q(ticket_message__isnull=False)
                                   | Q(bundle__isnull=False) | Q(payment__isnull=False),
                                   name="notification_is_about_something"),
        ]
        indexes = [
            models.Index(fields=["next_attempt_at"], name="notification_due_idx",
                         condition=Q(status__in=["pending", "sending"])),
            models.Index(fields=["customer", "created_at"], name="notification_history_idx"),
            # Support's queue counts the failed ones on the admin's index (support/queue.py).
            models.Index(fields=["created_at"], name="notification_failed_idx",
                         condition=Q(status="failed")),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} to {self.customer} ({self.get_status_display()})"


class DeliveryAttempt(models.Model):
    notification = models.ForeignKey(Notification, on_delete=models.CASCADE,
                                      related_name="attempts")
    at = models.DateTimeField(_("when"), default=timezone.now)
    succeeded = models.BooleanField(_("succeeded"))
    error = models.CharField(_("error"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("delivery attempt")
        verbose_name_plural = _("delivery attempts")
        ordering = ["at", "pk"]

    def __str__(self):
        return f"{self.notification_id} at {self.at:%Y-%m-%d %H:%M}: {self.succeeded}"


class ChannelSetting(models.Model):
    """A customer's choice for one kind of message on one channel, where it differs
    from the default (notifications/kinds.py): a row exists only once they chose."""

    customer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                 related_name="notification_settings")
    kind = models.CharField(_("kind"), max_length=30, choices=Notification.Kind.choices)
    channel = models.CharField(_("channel"), max_length=10,
                               choices=Notification.Channel.choices)
    enabled = models.BooleanField(_("on"))
    changed_at = models.DateTimeField(_("changed"), default=timezone.now)

    class Meta:
        verbose_name = _("message setting")
        verbose_name_plural = _("message settings")
        constraints = [
            models.UniqueConstraint(fields=["customer", "kind", "channel"],
                                    name="channel_setting_once"),
        ]

    def __str__(self):
        return f"{self.customer} {self.kind}/{self.channel}: {self.enabled}"
