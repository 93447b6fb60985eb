"""Messages to customers: asked for with the event (notifications/requests.py), sent
once by a worker.

Sending claims the row with a conditional update, so a repeated or duplicated task
sends nothing twice; every attempt is logged. A message carries its own attempt count
and next-attempt time: it is claimed only when due, backs off after a failure that may
pass (the policy of portal/tasks.py), and ends as failed after NOTIFICATION_MAX_ATTEMPTS
or at once when the failure cannot pass (a refused address).
"""

import contextlib
import logging
import smtplib
import zoneinfo
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db.models import F, Prefetch, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from billing.models import Order
from esims.selectors import bundle_expected_period, esim_topup_target, live_bundles
from portal.errors import ExternalError
from portal.tasks import retry_delay
from renewals.selectors import renewal_preview

from .models import DeliveryAttempt, Notification
from .states import NOTIFICATION

log = logging.getLogger(__name__)

# A claim older than this is taken to belong to a worker that died while sending.
CLAIM_TIMEOUT = timedelta(minutes=10)
# Sent messages are marked this many at a time (each mark is a commit).
MARK_SENT_EVERY = 10


class DeliveryError(ExternalError):
    """Sending failed; `retryable` says whether trying again can help, `retry_after` when
    the message is due again (portal/errors.py)."""


def notification_deliver(*, notification_id: int) -> bool:
    """Send the message if nobody has (or is). Returns True when this call sent it; raises
    DeliveryError when sending failed."""
    outcome = notifications_deliver(notification_ids=[notification_id])
    error = outcome.get(notification_id)
    if error is not None:
        raise error
    return notification_id in outcome


def notifications_deliver(*, notification_ids: list[int]) -> dict[int, DeliveryError | None]:
    """Send each message nobody has sent (or is sending), over one mail connection.

    Each is claimed first (a message another worker is sending is left to it; one whose
    sender died is claimed again after CLAIM_TIMEOUT), so a repeated or duplicated task
    sends nothing twice. Returns, for each message this call claimed, None when it was
    sent or the DeliveryError that stopped it; every attempt is logged.
    """
    now = timezone.now()
    # A conditional update claims each row once, on any database: a racing claimer's
    # update finds the row already taken and leaves it. A message waiting out its
    # back-off is not due, whoever asks.
    NOTIFICATION.move(
        Notification.objects.filter(pk__in=notification_ids)
        .filter(Q(status=Notification.Status.PENDING, next_attempt_at__lte=now)
                | Q(status=Notification.Status.SENDING, claimed_at__lt=now - CLAIM_TIMEOUT)),
        to=Notification.Status.SENDING, claimed_at=now, attempt_count=F("attempt_count") + 1)
    claimed = list(Notification.objects.filter(
        pk__in=notification_ids, status=Notification.Status.SENDING, claimed_at=now)
        .values_list("pk", flat=True))
    if not claimed:
        return {}
    notifications = list(Notification.objects.select_related(
        "customer", "order__plan", "order__esim", "order__receipt", "order__bundle",
        "ticket_message__ticket", "bundle__esim", "payment__order__esim",
        "payment__order__plan", "payment__payment_method").prefetch_related(
        Prefetch("order__esim__bundles", queryset=live_bundles(), to_attr="live_bundles"))
        .filter(pk__in=claimed).order_by("pk"))
    outcome: dict[int, DeliveryError | None] = {}
    connection = get_connection()
    # One connection for the lot (send() alone opens and closes one each). If the server
    # is down, each message meets the same trouble below and is retried on its own.
    with contextlib.suppress(smtplib.SMTPException, OSError):
        connection.open()
    unmarked: list[int] = []

    def mark_sent():
        NOTIFICATION.move(Notification.objects.filter(pk__in=unmarked),
                          to=Notification.Status.SENT, sent_at=timezone.now())
        unmarked.clear()

    try:
        for notification in notifications:
            try:
                _send_email(notification, connection)
                outcome[notification.pk] = None
                unmarked.append(notification.pk)
                # Marked a few at a time: a worker dying mid-batch resends at most these.
                if len(unmarked) >= MARK_SENT_EVERY:
                    mark_sent()
            except DeliveryError as exc:
                outcome[notification.pk] = exc
            except Exception as exc:  # a bug in one message must not resend the others
                log.exception("notification %s could not be written", notification.pk)
                outcome[notification.pk] = DeliveryError(f"not written: {exc!r}",
                                                         retryable=False)
    finally:
        connection.close()
        mark_sent()
    DeliveryAttempt.objects.bulk_create([
        DeliveryAttempt(notification_id=pk, succeeded=error is None,
                        error="" if error is None else str(error)[:500])
        for pk, error in outcome.items()])
    for notification in notifications:
        error = outcome.get(notification.pk)
        if error is not None:
            outcome[notification.pk] = _delivery_setback(notification, error)
    return outcome


def _delivery_setback(notification: Notification, error: DeliveryError) -> DeliveryError:
    """Schedule the next try of a message that could not be sent, or end it as failed
    (after its last attempt, or at once when no retry can help). Returns the error as
    the caller should see it: retryable with `retry_after` until the message is due, or
    final."""
    attempts = notification.attempt_count  # read after the claim counted this one
    if error.retryable and attempts < settings.NOTIFICATION_MAX_ATTEMPTS:
        delay = retry_delay(attempts - 1, retry_after=error.retry_after)
        NOTIFICATION.move(Notification.objects.filter(pk=notification.pk),
                          to=Notification.Status.PENDING,
                          next_attempt_at=timezone.now() + timedelta(seconds=delay))
        return DeliveryError(str(error), code=error.code, retryable=True, retry_after=delay)
    NOTIFICATION.move(Notification.objects.filter(pk=notification.pk),
                      to=Notification.Status.FAILED)
    log.error("notification %s failed after %s attempt(s): %s", notification.pk, attempts,
              error)
    return DeliveryError(f"gave up after {attempts} attempt(s): {error}", code=error.code,
                         retryable=False)


def _send_email(notification: Notification, connection) -> None:
    customer = notification.customer
    with translation.override(customer.language), timezone.override(
            zoneinfo.ZoneInfo(customer.time_zone)):
        context = _context(notification)
        prefix = f"notifications/{notification.kind}"
        subject = render_to_string(f"{prefix}_subject.txt", context).strip()
        message = EmailMultiAlternatives(
            subject=subject, body=render_to_string(f"{prefix}.txt", context),
            to=[customer.email], connection=connection)
        message.attach_alternative(render_to_string(f"{prefix}.html", context), "text/html")
    try:
        message.send()
    except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
        raise DeliveryError(f"refused: {exc}", retryable=False) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"mail server: {exc}", retryable=True) from exc


def _context(notification: Notification) -> dict:
    base = settings.PORTAL_BASE_URL
    context: dict = {"customer": notification.customer, "base_url": base}
    if notification.ticket_message is not None:
        ticket = notification.ticket_message.ticket
        context.update(ticket=ticket, reply=notification.ticket_message,
                       ticket_url=base + reverse("support:ticket", args=[ticket.pk]))
        return context
    if notification.bundle is not None:
        esim = notification.bundle.esim
        context.update(esim=esim, bundle=notification.bundle,
                       renewal=renewal_preview(esim=esim),
                       auto_renew_url=base + reverse("renewals:settings", args=[esim.pk]),
                       renew_url=base + reverse("billing:renew", args=[esim.pk]))
        return context
    payment = notification.payment
    order = notification.order or (payment.order if payment is not None else None)
    if order is None:  # the check constraint makes every message about something
        raise DeliveryError(f"notification {notification.pk} is about nothing",
                            retryable=False)
    if payment is not None and order.esim is not None:
        context.update(payment=payment, esim=order.esim,
                       pay_url=base + reverse("billing:pay", args=[order.number]),
                       auto_renew_url=base + reverse("renewals:settings",
                                                     args=[order.esim_id]))
        context["next_attempt_at"] = order.esim.renew_at if order.esim.auto_renew else None
    context.update(order=order, order_url=base + reverse("billing:order", args=[order.number]))
    receipt = getattr(order, "receipt", None)
    if receipt is not None:
        context["receipt"] = receipt
        context["receipt_url"] = base + reverse("billing:receipt_pdf", args=[receipt.number])
    if order.esim_id:
        context["install_url"] = base + reverse("esims:install", args=[order.esim_id])
    if order.kind == Order.Kind.TOPUP and order.esim is not None:
        target = esim_topup_target(esim=order.esim)
        context["topup_until"] = target.ends_at if target is not None else None
    bundle = getattr(order, "bundle", None) if order.kind == Order.Kind.RENEWAL else None
    if bundle is not None:
        context["period"] = bundle_expected_period(
            bundle, live=getattr(order.esim, "live_bundles", None))
    return context


def notification_due_for_resend(*, limit: int = 500) -> list[int]:
    """Messages due for longer than the claim timeout, or claimed that long ago: their
    task was lost or their worker died. A message backing off is not due, so the sweep
    never hurries it. Sending them again is safe: delivery claims each one."""
    cutoff = timezone.now() - CLAIM_TIMEOUT
    return list(Notification.objects.filter(
        Q(status=Notification.Status.PENDING, next_attempt_at__lt=cutoff)
        | Q(status=Notification.Status.SENDING, claimed_at__lt=cutoff))
        .order_by("next_attempt_at").values_list("pk", flat=True)[:limit])
