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
from typing import NoReturn
from urllib.parse import urlsplit

from anymail.exceptions import AnymailAPIError, AnymailRecipientsRefused
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db.models import Case, F, Prefetch, Q, Value, When
from django.template import Context
from django.template.loader import get_template, render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from billing.models import Order
from esims.models import Bundle, days_left
from esims.selectors import bundle_expected_period, esim_topup_target, live_bundles
from plans.selectors import prices_read_once
from portal.errors import ExternalError
from portal.tasks import retry_delay
from renewals.selectors import renewal_preview

from .bounces import email_address_undeliverable
from .links import message_short_url, unsubscribe_url
from .models import DeliveryAttempt, Notification
from .reminders import reminder_offer
from .sms import SmsError, sms_send
from .states import NOTIFICATION

log = logging.getLogger(__name__)

# A claim older than this is taken to belong to a worker that died while sending.
CLAIM_TIMEOUT = timedelta(minutes=10)
# A message first due this long after it was made was held (a text in the night): no
# task was queued for it, so the sweep sends it once due. Shorter holds wait for the
# claim timeout like any message whose task was lost.
HELD_AT_LEAST = timedelta(minutes=1)
# Sent emails are marked this many at a time (each mark is a commit); a text is marked
# as soon as it went. A worker that dies between sending and marking leaves its claim to
# time out, and the message is sent again: at least once, never lost. A second copy of
# an email carries the same Message-ID (`_message_id`), which mailboxes show once.
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
        "ticket_message__ticket", "bundle__esim__renewal_plan",
        "bundle__esim__renewal_payment_method", "payment__order__esim", "payment__order__plan",
        "payment__payment_method").prefetch_related(
        Prefetch("order__esim__bundles", queryset=live_bundles(), to_attr="live_bundles"),
        Prefetch("bundle__esim__bundles", queryset=live_bundles(), to_attr="live_bundles"))
        .filter(pk__in=claimed).order_by("pk"))
    for notification in notifications:
        # A message about a plan is for the eSIM's owner: the customer already read.
        if notification.bundle is not None:
            notification.bundle.esim.owner = notification.customer
    outcome: dict[int, DeliveryError | None] = {}
    connection = get_connection()
    # One connection for the lot (send() alone opens and closes one each). If the server
    # is down, each message meets the same trouble below and is retried on its own.
    if any(n.channel == Notification.Channel.EMAIL for n in notifications):
        with contextlib.suppress(smtplib.SMTPException, OSError):
            connection.open()
    unmarked: dict[int, str] = {}  # sent, not yet marked: id -> recipient

    def mark_sent():
        if unmarked:
            NOTIFICATION.move(
                Notification.objects.filter(pk__in=list(unmarked)),
                to=Notification.Status.SENT, sent_at=timezone.now(),
                recipient=Case(*[When(pk=pk, then=Value(to)) for pk, to in unmarked.items()],
                               default=F("recipient")))
        unmarked.clear()

    try:
        # The batch quotes the same few plans: each price is read once for the lot.
        with prices_read_once():
            for notification in notifications:
                try:
                    _send(notification, connection)
                    outcome[notification.pk] = None
                    unmarked[notification.pk] = notification.recipient
                    if (len(unmarked) >= MARK_SENT_EVERY
                            or notification.channel == Notification.Channel.SMS):
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
                          to=Notification.Status.PENDING, recipient=notification.recipient,
                          next_attempt_at=timezone.now() + timedelta(seconds=delay))
        return DeliveryError(str(error), code=error.code, retryable=True, retry_after=delay)
    NOTIFICATION.move(Notification.objects.filter(pk=notification.pk),
                      to=Notification.Status.FAILED, recipient=notification.recipient)
    log.error("notification %s failed after %s attempt(s): %s", notification.pk, attempts,
              error)
    return DeliveryError(f"gave up after {attempts} attempt(s): {error}", code=error.code,
                         retryable=False)


def _send(notification: Notification, connection) -> None:
    """Send one claimed message on its channel; raise DeliveryError when it did not go.
    `notification.recipient` is the address or number it went (or was meant) to."""
    customer = notification.customer
    with translation.override(customer.language), timezone.override(
            zoneinfo.ZoneInfo(customer.time_zone)):
        if notification.channel == Notification.Channel.SMS:
            _send_sms(notification)
        else:
            _send_email(notification, connection)


def _render_text(name: str, context: dict) -> str:
    """A plain-text template, unescaped: a subject or a text is not HTML, so a nickname
    like "Alice's iPhone" must not read "Alice&#x27;s iPhone"."""
    template = get_template(name).template  # type: ignore[attr-defined]  # Django engine's
    return template.render(Context(context, autoescape=False))


def _one_line(text: str) -> str:
    """A header value on one line (a line break in a header would be refused)."""
    return " ".join(text.split())


def _send_email(notification: Notification, connection) -> None:
    """HTML with a plain-text alternative, in the customer's language and zone, with a
    one-click unsubscribe for this kind (RFC 8058) that needs no login."""
    customer = notification.customer
    notification.recipient = customer.email
    if customer.email_undeliverable_at is not None:
        raise DeliveryError(f"address undeliverable: {customer.email_undeliverable_reason}",
                            code="undeliverable", retryable=False)
    context = _context(notification)
    prefix = f"notifications/{notification.kind}"
    message = EmailMultiAlternatives(
        subject=_one_line(_render_text(f"{prefix}_subject.txt", context)),
        body=_render_text(f"{prefix}.txt", context).strip() + "\n\n"
        + _render_text("notifications/_email_footer.txt", context).strip() + "\n",
        to=[customer.email], connection=connection,
        headers={"List-Unsubscribe": f"<{context['unsubscribe_url']}>",
                 "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                 "Message-ID": _message_id(notification)})
    message.attach_alternative(render_to_string(f"{prefix}.html", context), "text/html")
    try:
        message.send()
    except smtplib.SMTPRecipientsRefused as exc:
        _refused(customer.email, exc.recipients)
    except AnymailRecipientsRefused as exc:
        email_address_undeliverable(email=customer.email, reason=f"refused: {exc}"[:200])
        raise DeliveryError(f"refused: {exc}", code="refused", retryable=False) from exc
    except smtplib.SMTPSenderRefused as exc:  # our sender: no retry helps until fixed
        raise DeliveryError(f"sender refused: {exc}", code="sender", retryable=False) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"mail server: {exc}", code="connection",
                            retryable=True) from exc
    except AnymailAPIError as exc:
        status = exc.status_code
        retryable = status is None or status >= 500 or status in (408, 429)
        raise DeliveryError(f"provider: {exc}", code=f"provider_{status or 'error'}",
                            retryable=retryable) from exc


def _message_id(notification: Notification) -> str:
    """One Message-ID per message, whatever the attempt: a copy sent again after a
    worker died between sending and marking is the same message to the mailbox."""
    domain = urlsplit(settings.PORTAL_BASE_URL).hostname or "localhost"
    return f"<notification-{notification.pk}.{notification.customer_id}@{domain}>"


def _refused(email: str, recipients: dict) -> NoReturn:
    """The mail server refused the address. A permanent refusal (5xx) marks it
    undeliverable and ends the message; a temporary one (4xx, a greylist) may pass."""
    codes = [code for code, _text in recipients.values() if isinstance(code, int)]
    detail = "; ".join(f"{code} {text!r}" for code, text in recipients.values())
    if codes and all(400 <= code < 500 for code in codes):
        raise DeliveryError(f"refused for now: {detail}", code="deferred", retryable=True)
    email_address_undeliverable(email=email, reason=f"refused: {detail}"[:200])
    raise DeliveryError(f"refused: {detail}", code="refused", retryable=False)


def _send_sms(notification: Notification) -> None:
    """A short text in the customer's language to their verified number (E.164)."""
    customer = notification.customer
    phone = str(customer.phone or "")
    notification.recipient = phone
    if not phone or customer.phone_verified_at is None:
        raise DeliveryError("no verified mobile number", code="unverified", retryable=False)
    context = _context(notification)
    # One short link per text (a full link, a signed one above all, would take a
    # second segment): it opens this message's action once the customer signs in.
    context["link"] = message_short_url(notification_id=notification.pk)
    body = _one_line(_render_text(f"notifications/{notification.kind}.sms.txt", context))
    try:
        sms_send(to=phone, body=body)
    except SmsError as exc:
        raise DeliveryError(str(exc), code=exc.code, retryable=exc.retryable,
                            retry_after=exc.retry_after) from exc


def _context(notification: Notification) -> dict:
    """What a message's templates show. Every link is built on PORTAL_BASE_URL: the
    worker that sends it knows no request, and the customer uses that portal."""
    base = settings.PORTAL_BASE_URL
    customer = notification.customer
    context: dict = {
        "customer": customer, "base_url": base, "kind": notification.kind,
        "threshold": notification.threshold, "sent_at": timezone.now(),
        "support_email": settings.SUPPORT_EMAIL,
        "help_url": base + reverse("help:index"),
        "dashboard_url": base + reverse("esims:dashboard"),
        "preferences_url": base + reverse("notifications:preferences"),
        "unsubscribe_url": unsubscribe_url(customer_id=customer.pk, kind=notification.kind,
                                           channel=notification.channel)}
    if notification.ticket_message is not None:
        ticket = notification.ticket_message.ticket
        context.update(ticket=ticket, reply=notification.ticket_message,
                       ticket_url=base + reverse("support:ticket", args=[ticket.pk]))
        return context
    if notification.bundle is not None:
        context.update(_bundle_context(notification.bundle, kind=notification.kind))
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


def _bundle_context(bundle: Bundle, *, kind: str) -> dict:
    """A message about a plan: the eSIM, its data and end, and what the customer can
    do (renew, top up, manage or skip the auto-renewal)."""
    base = settings.PORTAL_BASE_URL
    esim = bundle.esim
    context: dict = {
        "esim": esim, "bundle": bundle,
        "auto_renew_url": base + reverse("renewals:settings", args=[esim.pk]),
        "renew_url": base + reverse("billing:renew", args=[esim.pk]),
        "topup_url": base + reverse("billing:topup", args=[esim.pk]),
        "data_left": bundle.data_remaining_bytes,
        # The carrier's figure is only as fresh as its last report: the message says when.
        "usage_reported_at": bundle.usage_reported_at,
        "plan_ends_at": bundle.ends_at or bundle_expected_period(bundle).ends_at}
    if kind == Notification.Kind.ESIM_READY:
        # A copy support sent again (esims.services.esim_install_resend): about the
        # eSIM's first plan, it reads as the first message did, about its order.
        context.update(order=bundle.order,
                       install_url=base + reverse("esims:install", args=[esim.pk]))
    if kind == Notification.Kind.RENEWAL_UPCOMING:
        context["renewal"] = renewal_preview(esim=esim)
    if kind == Notification.Kind.EXPIRY_REMINDER:
        # The charge to come and a skip link, or a one-tap renew link: reminders.py says.
        offer = reminder_offer(esim)
        context.update(offer=offer, card=esim.renewal_payment_method)
        context["plan_ends_at"] = offer.ends_at or context["plan_ends_at"]
        # The days actually left when it is sent (a sweep that ran late sends the most
        # urgent step, whose day may be past), never the step's own number.
        context["days_left"] = days_left(context["plan_ends_at"], timezone.now())
    return context


# What a text's short link opens, per kind: a key of the message's context (`_context`).
_SMS_ACTION: dict[str, str] = {
    Notification.Kind.ESIM_READY: "install_url",
    Notification.Kind.SUPPORT_REPLIED: "ticket_url",
    Notification.Kind.RENEWAL_UPCOMING: "auto_renew_url",
    Notification.Kind.PAYMENT_FAILED: "pay_url",
    Notification.Kind.PAYMENT_ACTION_REQUIRED: "pay_url",
    Notification.Kind.AUTO_RENEW_STOPPED: "renew_url",
    Notification.Kind.DATA_ALERT: "topup_url",
    Notification.Kind.OUT_OF_DATA: "topup_url",
    Notification.Kind.ESIM_EXPIRED: "renew_url",
}


def message_action_url(notification: Notification) -> str:
    """Where a message's short link goes: what the message asks the customer to do
    (an expiry reminder: skip the coming charge, or renew), else the dashboard."""
    customer = notification.customer
    with translation.override(customer.language):
        context = _context(notification)
    if notification.kind == Notification.Kind.EXPIRY_REMINDER:
        offer = context["offer"]
        return offer.skip_url or offer.renew_url or context["auto_renew_url"]
    return str(context.get(_SMS_ACTION.get(notification.kind, ""), context["dashboard_url"]))


def notification_due_for_resend(*, limit: int = 500) -> list[int]:
    """Messages to hand to a worker again: due for longer than the claim timeout, or
    claimed that long ago (their task was lost or their worker died); and texts held
    for the night, as soon as the morning comes (no task was ever queued for them). A
    message backing off is not due, so the sweep never hurries it. Sending them again
    is safe: delivery claims each one."""
    now = timezone.now()
    cutoff = now - CLAIM_TIMEOUT
    return list(Notification.objects.filter(
        Q(status=Notification.Status.PENDING, next_attempt_at__lt=cutoff)
        | Q(status=Notification.Status.SENDING, claimed_at__lt=cutoff)
        | Q(status=Notification.Status.PENDING, attempt_count=0, next_attempt_at__lte=now,
            next_attempt_at__gt=F("created_at") + HELD_AT_LEAST))
        .order_by("next_attempt_at").values_list("pk", flat=True)[:limit])
