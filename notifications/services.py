"""Messages to customers: recorded with the event, sent once by a worker.

`notification_request` is called inside the transaction of the event (an order paid, an
eSIM ready), so a message exists if and only if the event happened, and exists once.
Sending claims the row with a conditional update, so a repeated or duplicated task
sends nothing twice; every attempt is logged; failures are retried by the task.
"""

import logging
import smtplib
import zoneinfo
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from esims.selectors import bundle_expected_period
from renewals.selectors import renewal_preview

from .models import DeliveryAttempt, Notification

log = logging.getLogger(__name__)

# A claim older than this is taken to belong to a worker that died while sending.
CLAIM_TIMEOUT = timedelta(minutes=10)


class DeliveryError(Exception):
    """Sending failed; `retryable` says whether trying again can help."""

    def __init__(self, message: str, *, retryable: bool):
        super().__init__(message)
        self.retryable = retryable


def notification_request(*, kind: str, order=None, ticket_message=None, bundle=None,
                         payment=None) -> Notification | None:
    """Record that the customer must be told about this order, support reply, bundle (an
    auto-renewal coming or stopped) or payment attempt, once."""
    if order is not None:
        customer = order.customer
    elif ticket_message is not None:
        customer = ticket_message.ticket.customer
    elif bundle is not None:
        customer = bundle.esim.owner
    else:
        customer = payment.order.customer
    try:
        with transaction.atomic():
            notification = Notification.objects.create(
                customer=customer, kind=kind, channel=Notification.Channel.EMAIL,
                order=order, ticket_message=ticket_message, bundle=bundle, payment=payment)
    except IntegrityError:
        return None  # already requested for this order
    notification_id = notification.pk
    transaction.on_commit(lambda: _enqueue(notification_id))
    return notification


def _enqueue(notification_id: int) -> None:
    from .tasks import notification_send

    notification_send.delay(notification_id)


def notification_deliver(*, notification_id: int) -> bool:
    """Send the message if nobody has (or is). Returns True when this call sent it."""
    now = timezone.now()
    claimed = (Notification.objects.filter(pk=notification_id)
               .filter(status=Notification.Status.PENDING)
               .update(status=Notification.Status.SENDING, claimed_at=now)
               or Notification.objects.filter(pk=notification_id,
                                              status=Notification.Status.SENDING,
                                              claimed_at__lt=now - CLAIM_TIMEOUT)
               .update(claimed_at=now))
    if not claimed:
        return False
    notification = Notification.objects.select_related(
        "customer", "order__plan", "order__esim", "ticket_message__ticket", "bundle__esim",
        "payment__order__esim", "payment__order__plan", "payment__payment_method").get(
        pk=notification_id)
    try:
        _send_email(notification)
    except DeliveryError as exc:
        DeliveryAttempt.objects.create(notification=notification, succeeded=False,
                                       error=str(exc)[:500])
        status = Notification.Status.PENDING if exc.retryable else Notification.Status.FAILED
        Notification.objects.filter(pk=notification_id).update(status=status)
        raise
    DeliveryAttempt.objects.create(notification=notification, succeeded=True)
    Notification.objects.filter(pk=notification_id).update(
        status=Notification.Status.SENT, sent_at=timezone.now())
    return True


def _send_email(notification: Notification) -> None:
    customer = notification.customer
    with translation.override(customer.language), timezone.override(
            zoneinfo.ZoneInfo(customer.time_zone)):
        context = _context(notification)
        prefix = f"notifications/{notification.kind}"
        subject = render_to_string(f"{prefix}_subject.txt", context).strip()
        message = EmailMultiAlternatives(
            subject=subject, body=render_to_string(f"{prefix}.txt", context),
            to=[customer.email])
        message.attach_alternative(render_to_string(f"{prefix}.html", context), "text/html")
    try:
        message.send()
    except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
        raise DeliveryError(f"refused: {exc}", retryable=False) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"mail server: {exc}", retryable=True) from exc


def _context(notification: Notification) -> dict:
    base = settings.PORTAL_BASE_URL
    context = {"customer": notification.customer, "base_url": base}
    if notification.ticket_message_id:
        ticket = notification.ticket_message.ticket
        context.update(ticket=ticket, reply=notification.ticket_message,
                       ticket_url=base + reverse("support:ticket", args=[ticket.pk]))
        return context
    if notification.bundle_id:
        esim = notification.bundle.esim
        context.update(esim=esim, bundle=notification.bundle,
                       renewal=renewal_preview(esim=esim),
                       auto_renew_url=base + reverse("renewals:settings", args=[esim.pk]),
                       renew_url=base + reverse("billing:renew", args=[esim.pk]))
        return context
    if notification.payment_id:
        payment = notification.payment
        order = payment.order
        context.update(payment=payment, esim=order.esim,
                       pay_url=base + reverse("billing:pay", args=[order.number]),
                       auto_renew_url=base + reverse("renewals:settings",
                                                     args=[order.esim_id]))
        context["next_attempt_at"] = order.esim.renew_at if order.esim.auto_renew else None
    order = notification.order or notification.payment.order
    context.update(order=order, order_url=base + reverse("billing:order", args=[order.number]))
    receipt = getattr(order, "receipt", None)
    if receipt is not None:
        context["receipt"] = receipt
        context["receipt_url"] = base + reverse("billing:receipt_pdf", args=[receipt.number])
    if order.esim_id:
        context["install_url"] = base + reverse("esims:install", args=[order.esim_id])
    bundle = getattr(order, "bundle", None) if order.kind == "renewal" else None
    if bundle is not None:
        context["period"] = bundle_expected_period(bundle)
    return context


def notification_due_for_resend(*, limit: int = 500) -> list[int]:
    """Unsent messages older than the claim timeout: their task was lost or their worker
    died. Sending them again is safe: delivery claims each one."""
    cutoff = timezone.now() - CLAIM_TIMEOUT
    return list(Notification.objects.filter(
        status__in=[Notification.Status.PENDING, Notification.Status.SENDING],
        created_at__lt=cutoff).values_list("pk", flat=True)[:limit])
