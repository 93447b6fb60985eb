import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

_ORDER_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read out over the phone


def new_order_number() -> str:
    return "ES-" + "".join(secrets.choice(_ORDER_ALPHABET) for _ in range(8))


class Order(models.Model):
    """What a customer buys; price and currency are frozen when it is created."""

    class Kind(models.TextChoices):
        NEW_ESIM = "new_esim", _("New eSIM")
        RENEWAL = "renewal", _("Renewal")
        TOPUP = "topup", _("Top-up")

    class Status(models.TextChoices):
        PENDING_PAYMENT = "pending_payment", _("Awaiting payment")
        PAID = "paid", _("Paid")
        ACTIVATING = "activating", _("Activating at the carrier")
        COMPLETED = "completed", _("Completed")
        FAILED = "failed", _("Failed")
        REFUNDED = "refunded", _("Refunded")

    number = models.CharField(_("order number"), max_length=16, unique=True,
                              default=new_order_number, editable=False)
    customer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                 related_name="orders", verbose_name=_("customer"))
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    plan = models.ForeignKey("plans.Plan", on_delete=models.PROTECT, related_name="orders",
                             verbose_name=_("plan"))
    esim = models.ForeignKey("esims.ESim", on_delete=models.PROTECT, null=True, blank=True,
                             related_name="orders", verbose_name=_("eSIM"))
    nickname = models.CharField(_("device nickname"), max_length=60, blank=True)
    currency = models.CharField(_("currency"), max_length=3)
    amount_minor = models.PositiveIntegerField(_("amount (minor units)"))
    status = models.CharField(_("status"), max_length=20, choices=Status.choices,
                              default=Status.PENDING_PAYMENT)
    idempotency_key = models.CharField(max_length=64)
    failure_reason = models.TextField(_("failure reason"), blank=True)
    activation_attempts = models.PositiveIntegerField(_("activation attempts"), default=0)
    activation_attempted_at = models.DateTimeField(_("last activation attempt"), null=True,
                                                   blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    paid_at = models.DateTimeField(_("paid"), null=True, blank=True)
    activation_started_at = models.DateTimeField(_("activation started"), null=True,
                                                 blank=True)
    completed_at = models.DateTimeField(_("completed"), null=True, blank=True)
    failed_at = models.DateTimeField(_("failed"), null=True, blank=True)
    refunded_at = models.DateTimeField(_("refunded"), null=True, blank=True)
    # A refund (by support or by the customer) claimed this order at this time: a second
    # click, or a second agent, finds it claimed and does not start another.
    refund_requested_at = models.DateTimeField(_("refund asked for"), null=True, blank=True)
    # The last refund attempt failed (the gateway or the carrier refused): support's
    # queue lists these until the order is refunded.
    refund_failed_at = models.DateTimeField(_("refund failed"), null=True, blank=True)
    refund_failure = models.CharField(_("why the refund failed"), max_length=255,
                                      blank=True)

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "idempotency_key"],
                                    name="order_idempotency_key_per_customer"),
            # Each status carries the timestamps of the moves that reach it
            # (billing/order_states.py): every order past pending_payment was paid.
            models.CheckConstraint(
                condition=Q(status="pending_payment", paid_at__isnull=True)
                | (~Q(status="pending_payment") & Q(paid_at__isnull=False)),
                name="order_paid_at_iff_paid"),
            models.CheckConstraint(
                condition=~Q(status="completed") | Q(completed_at__isnull=False),
                name="order_completed_has_completed_at"),
            models.CheckConstraint(condition=~Q(status="failed") | Q(failed_at__isnull=False),
                                   name="order_failed_has_failed_at"),
            models.CheckConstraint(
                condition=~Q(status="refunded") | Q(refunded_at__isnull=False),
                name="order_refunded_has_refunded_at"),
        ]
        indexes = [
            models.Index(fields=["customer", "-created_at"], name="order_customer_idx"),
            # The activation sweep looks only at paid orders not yet applied.
            models.Index(fields=["activation_attempted_at"], name="order_activation_due_idx",
                         condition=Q(status__in=["paid", "activating"])),
            # Support's queue (support/queue.py) counts these on the admin's index; the
            # stuck activations are counted on order_activation_due_idx.
            models.Index(fields=["failed_at"], name="order_failed_idx",
                         condition=Q(status="failed")),
            models.Index(fields=["refund_failed_at"], name="order_refund_refused_idx",
                         condition=Q(refund_failed_at__isnull=False) & ~Q(status="refunded")),
        ]

    def __str__(self):
        return self.number


# What a customer reads when a payment fails, by failure code, in their language.
FAILURE_EXPLANATIONS = {
    "card_declined": _("Your bank declined the payment. Try another card or method."),
    "insufficient_funds": _("The card has insufficient funds."),
    "expired_card": _("The card has expired. Use another card."),
    "authentication_failed": _("The bank's authentication was not completed."),
}


class Payment(models.Model):
    """One attempt to collect an order's money through a gateway."""

    class Status(models.TextChoices):
        CREATED = "created", _("Started")
        REQUIRES_ACTION = "requires_action", _("Needs authentication")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    OPEN_STATUSES = (Status.CREATED, Status.REQUIRES_ACTION)

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="payments")
    gateway = models.CharField(_("gateway"), max_length=20)
    gateway_reference = models.CharField(_("gateway reference"), max_length=100, blank=True)
    amount_minor = models.PositiveIntegerField(_("amount (minor units)"))
    currency = models.CharField(_("currency"), max_length=3)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices,
                              default=Status.CREATED)
    failure_code = models.CharField(_("failure code"), max_length=64, blank=True)
    failure_message = models.CharField(_("failure message"), max_length=255, blank=True)
    # An off-session charge (auto-renewal) to a saved card; the row is written before the
    # gateway is called, and its key (`idempotency_key`) goes with every call for it.
    off_session = models.BooleanField(_("off-session"), default=False)
    payment_method = models.ForeignKey("PaymentMethod", on_delete=models.PROTECT, null=True,
                                       blank=True, related_name="payments",
                                       verbose_name=_("saved card"))
    # Set by whoever is calling the gateway for this payment, so that two runs never call
    # it at once; a claim older than a few minutes belongs to a worker that died.
    charge_claimed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    checked_at = models.DateTimeField(_("last checked at the gateway"), null=True, blank=True)
    # A payment that succeeded after its order was already paid ("paid_twice") is given
    # back through the gateway without anyone asking.
    refunded_at = models.DateTimeField(_("refunded"), null=True, blank=True)
    refund_reference = models.CharField(_("gateway refund reference"), max_length=100,
                                        blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        ordering = ["-created_at", "-pk"]
        indexes = [
            # The reconciliation sweep looks only at payments still open.
            models.Index(fields=["created_at"], name="payment_open_idx",
                         condition=Q(status__in=["created", "requires_action"])),
            # Duplicate payments still to be given back: the refund sweep reads only these.
            models.Index(fields=["updated_at"], name="payment_refund_due_idx",
                         condition=Q(failure_code="paid_twice", refunded_at__isnull=True)),
        ]
        constraints = [
            models.UniqueConstraint(fields=["order"], condition=Q(status="succeeded"),
                                    name="payment_one_success_per_order"),
            models.UniqueConstraint(fields=["gateway", "gateway_reference"],
                                    condition=~Q(gateway_reference=""),
                                    name="payment_gateway_reference_unique"),
            # Only a duplicate is given back here (billing/payment_states.py), and a
            # refund recorded has the gateway's reference.
            models.CheckConstraint(
                condition=Q(refunded_at__isnull=True, refund_reference="")
                | (Q(refunded_at__isnull=False, status="failed", failure_code="paid_twice")
                   & ~Q(refund_reference="")),
                name="payment_refunded_only_when_paid_twice"),
        ]

    def __str__(self):
        return f"{self.order.number} {self.gateway} {self.status}"

    @property
    def explanation(self) -> str:
        return str(FAILURE_EXPLANATIONS.get(self.failure_code,
                                            _("The payment did not go through.")))

    @property
    def idempotency_key(self) -> str:
        """Sent with every gateway call that may move money for this payment: a call
        repeated after a timeout or a crash is the same charge, never a second one."""
        return f"esim-portal-payment-{self.pk}"


class GatewayCustomer(models.Model):
    """The customer's record at a gateway (a Stripe Customer), made once and reused."""

    customer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                 related_name="gateway_customers")
    gateway = models.CharField(_("gateway"), max_length=20)
    reference = models.CharField(_("gateway reference"), max_length=100)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("gateway customer")
        verbose_name_plural = _("gateway customers")
        constraints = [
            models.UniqueConstraint(fields=["customer", "gateway"],
                                    name="gateway_customer_once"),
        ]

    def __str__(self):
        return f"{self.customer} at {self.gateway}: {self.reference}"


class PaymentMethod(models.Model):
    """A card the customer saved at the gateway for off-session (auto-renewal) charges.
    The row is written when saving starts (`setup_reference`); the card's details arrive
    once the gateway says it is saved."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Being saved")
        ACTIVE = "active", _("Saved")
        FAILED = "failed", _("Not saved")
        REMOVED = "removed", _("Removed")

    customer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                 related_name="payment_methods")
    gateway = models.CharField(_("gateway"), max_length=20)
    setup_reference = models.CharField(_("setup reference"), max_length=100)
    reference = models.CharField(_("gateway reference"), max_length=100, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices,
                              default=Status.PENDING)
    brand = models.CharField(_("brand"), max_length=20, blank=True)
    last4 = models.CharField(_("last four digits"), max_length=4, blank=True)
    exp_month = models.PositiveSmallIntegerField(_("expiry month"), null=True, blank=True)
    exp_year = models.PositiveSmallIntegerField(_("expiry year"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    saved_at = models.DateTimeField(_("saved"), null=True, blank=True)

    class Meta:
        verbose_name = _("saved card")
        verbose_name_plural = _("saved cards")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["gateway", "setup_reference"],
                                    name="payment_method_setup_once"),
            # A card is chargeable only once the gateway said it is saved
            # (billing/card_states.py).
            models.CheckConstraint(
                condition=~Q(status="active") | (Q(saved_at__isnull=False)
                                                 & ~Q(reference="")),
                name="payment_method_active_is_saved"),
        ]

    def __str__(self):
        if not self.last4:
            return str(self.get_status_display())
        return f"{self.brand.title()} •••• {self.last4} ({self.exp_month:02d}/{self.exp_year})"


class GatewayEvent(models.Model):
    """A webhook event from a gateway, stored once by its id before it is acted on."""

    gateway = models.CharField(_("gateway"), max_length=20)
    event_id = models.CharField(_("event id"), max_length=100)
    type = models.CharField(_("type"), max_length=100)
    payload = models.JSONField(_("payload"))
    received_at = models.DateTimeField(_("received"), default=timezone.now)
    processed_at = models.DateTimeField(_("processed"), null=True, blank=True)

    class Meta:
        verbose_name = _("gateway event")
        verbose_name_plural = _("gateway events")
        ordering = ["-received_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["gateway", "event_id"], name="gateway_event_once"),
        ]
        indexes = [
            models.Index(fields=["received_at"], name="gateway_event_unprocessed_idx",
                         condition=Q(processed_at__isnull=True)),
        ]

    def __str__(self):
        return f"{self.gateway} {self.type} {self.event_id}"


class SimulatedCharge(models.Model):
    """The simulated gateway's own record of a charge (what Stripe would hold for us)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        REQUIRES_ACTION = "requires_action", _("Needs authentication")
        SUCCEEDED = "succeeded", _("Succeeded")
        DECLINED = "declined", _("Declined")
        REFUNDED = "refunded", _("Refunded")

    reference = models.CharField(max_length=40, unique=True)
    amount_minor = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    description = models.CharField(max_length=200)
    return_url = models.CharField(max_length=500)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    decline_code = models.CharField(max_length=64, blank=True)
    # Off-session charges, like Stripe's: the same key twice is the same charge.
    idempotency_key = models.CharField(max_length=100, null=True, blank=True, unique=True)
    card = models.ForeignKey("SimulatedCard", on_delete=models.PROTECT, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("simulated charge")
        verbose_name_plural = _("simulated charges")

    def __str__(self):
        return self.reference


class SimulatedCard(models.Model):
    """A card saved at the simulated gateway. What its bank answers to off-session
    charges is chosen by the tester when saving it, and can be changed later in admin."""

    class Behaviour(models.TextChoices):
        SUCCEEDS = "success", _("Always pays")
        CARD_DECLINED = "card_declined", _("Declined")
        INSUFFICIENT_FUNDS = "insufficient_funds", _("Insufficient funds")
        EXPIRED_CARD = "expired_card", _("Expired card")
        AUTHENTICATE = "authenticate", _("Needs authentication (3-D Secure)")

    reference = models.CharField(max_length=40, unique=True)
    return_url = models.CharField(max_length=500)
    saved = models.BooleanField(default=False)
    behaviour = models.CharField(max_length=20, choices=Behaviour.choices,
                                 default=Behaviour.SUCCEEDS)
    last4 = models.CharField(max_length=4, default="4242")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("simulated card")
        verbose_name_plural = _("simulated cards")

    def __str__(self):
        return f"{self.reference} ({self.behaviour})"


class DocumentCounter(models.Model):
    """The last number issued in a series (receipts "R", credit notes "C") in a year.
    Locked while a document is issued, in the same transaction, so numbers have no gaps
    and no repeats."""

    series = models.CharField(max_length=1)
    year = models.PositiveIntegerField()
    last_number = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("document counter")
        verbose_name_plural = _("document counters")
        constraints = [
            models.UniqueConstraint(fields=["series", "year"], name="document_counter_once"),
        ]

    def __str__(self):
        return f"{self.series}-{self.year}: {self.last_number}"


class Receipt(models.Model):
    """Issued once per paid order and never changed afterwards."""

    number = models.CharField(_("receipt number"), max_length=20, unique=True)
    year = models.PositiveIntegerField(_("year"))
    sequence = models.PositiveIntegerField(_("number in the year"))
    order = models.OneToOneField(Order, on_delete=models.PROTECT, related_name="receipt",
                                 verbose_name=_("order"))
    customer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                 related_name="receipts", verbose_name=_("customer"))
    billed_to = models.CharField(_("billed to"), max_length=254)
    issued_at = models.DateTimeField(_("issued"), default=timezone.now)
    currency = models.CharField(_("currency"), max_length=3)
    total_minor = models.PositiveIntegerField(_("total (minor units)"))
    # [{"description": {"en": ..., "zh-hans": ...}, "quantity": 1, "amount_minor": ...}]
    lines = models.JSONField(_("lines"))
    payment_method = models.CharField(_("paid with"), max_length=100)

    class Meta:
        verbose_name = _("receipt")
        verbose_name_plural = _("receipts")
        ordering = ["-issued_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["year", "sequence"], name="receipt_gapless_number"),
        ]

    def __str__(self):
        return self.number

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("A receipt is never changed once issued; refunds issue a credit "
                             "note.")
        super().save(*args, **kwargs)


class CreditNote(models.Model):
    """Issued when a paid order is refunded; refers to the order's receipt."""

    number = models.CharField(_("credit note number"), max_length=20, unique=True)
    year = models.PositiveIntegerField(_("year"))
    sequence = models.PositiveIntegerField(_("number in the year"))
    receipt = models.OneToOneField(Receipt, on_delete=models.PROTECT,
                                   related_name="credit_note", verbose_name=_("receipt"))
    issued_at = models.DateTimeField(_("issued"), default=timezone.now)
    currency = models.CharField(_("currency"), max_length=3)
    total_minor = models.PositiveIntegerField(_("amount refunded (minor units)"))
    reason = models.CharField(_("reason"), max_length=255)
    gateway_refund_reference = models.CharField(_("gateway refund reference"), max_length=100)

    class Meta:
        verbose_name = _("credit note")
        verbose_name_plural = _("credit notes")
        ordering = ["-issued_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["year", "sequence"],
                                    name="credit_note_gapless_number"),
        ]

    def __str__(self):
        return self.number

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("A credit note is never changed once issued.")
        super().save(*args, **kwargs)
