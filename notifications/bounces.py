"""Addresses that cannot take email.

A provider's bounce webhook (django-anymail, at /webhooks/email/<esp>/tracking/) or the
mail server's own permanent refusal (a 5xx to RCPT TO) marks the customer's address as
undeliverable and ends their email messages still waiting as failed: trying again
cannot help, and a provider punishes senders who keep writing to dead addresses. No
email is asked for that address afterwards (notifications/requests.py); texts still go.
Confirming the address again (allauth's confirmation link), or making another address
the account's own, lifts the mark.

The webhook is protected by anymail's basic auth (ANYMAIL["WEBHOOK_SECRET"], see
portal/settings/base.py); a body it cannot read is answered 400, never 500.
"""

import logging
from functools import wraps

from allauth.account.signals import email_changed, email_confirmed
from anymail.signals import AnymailTrackingEvent, tracking
from django.contrib.auth import get_user_model
from django.db import transaction
from django.dispatch import receiver
from django.http import HttpResponseBadRequest
from django.urls import URLPattern
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from .models import DeliveryAttempt, Notification
from .states import NOTIFICATION

log = logging.getLogger(__name__)

# Anymail's normalised events that say the address will not take mail: a hard bounce,
# or the provider refusing to send to it (invalid, blocked, on its suppression list).
# A deferral or a complaint does not make an address undeliverable.
UNDELIVERABLE_EVENTS = {"bounced", "rejected"}
_REASON_LENGTH = 200  # User.email_undeliverable_reason


def email_address_undeliverable(*, email: str, reason: str) -> int:
    """Mark every customer with this address (compared without case) as unable to take
    email, once (the first reason stays), and end their email messages that wait to be
    sent as failed. Returns how many messages were ended. Repeating it changes nothing."""
    email = (email or "").strip()
    if not email:
        return 0
    customers = get_user_model().objects.filter(email__iexact=email)
    with transaction.atomic():
        customers.filter(email_undeliverable_at__isnull=True).update(
            email_undeliverable_at=timezone.now(),
            email_undeliverable_reason=reason[:_REASON_LENGTH])
        waiting = list(Notification.objects.select_for_update().filter(
            customer__in=customers, channel=Notification.Channel.EMAIL,
            status=Notification.Status.PENDING).values_list("pk", flat=True))
        ended = NOTIFICATION.move(Notification.objects.filter(pk__in=waiting),
                                  to=Notification.Status.FAILED)
        DeliveryAttempt.objects.bulk_create([
            DeliveryAttempt(notification_id=pk, succeeded=False,
                            error=f"address undeliverable: {reason}"[:500])
            for pk in waiting])
    if ended or customers.exists():
        log.warning("email address of customer(s) %s undeliverable: %s",
                    list(customers.values_list("pk", flat=True)), reason)
    return ended


@receiver(tracking, dispatch_uid="notifications.bounces")
def _provider_event(sender, event: AnymailTrackingEvent, esp_name: str, **kwargs) -> None:
    """A provider's tracking event: a bounce or a refusal marks the address."""
    if event.event_type not in UNDELIVERABLE_EVENTS or not isinstance(event.recipient, str):
        return
    detail = event.description or event.mta_response or event.reject_reason or ""
    email_address_undeliverable(
        email=event.recipient, reason=f"{esp_name} {event.event_type}: {detail}".strip())


def email_address_deliverable_again(*, user_id: int, email: str) -> bool:
    """The customer confirmed this address again (they received the confirmation link
    and opened it), or made another address their own: email goes to them again."""
    return bool(get_user_model().objects.filter(
        pk=user_id, email__iexact=email, email_undeliverable_at__isnull=False).update(
        email_undeliverable_at=None, email_undeliverable_reason=""))


@receiver(email_confirmed, dispatch_uid="notifications.bounces.confirmed")
def _address_confirmed(sender, request, email_address, **kwargs) -> None:
    email_address_deliverable_again(user_id=email_address.user_id, email=email_address.email)


@receiver(email_changed, dispatch_uid="notifications.bounces.changed")
def _address_changed(sender, request, user, from_email_address, to_email_address,
                     **kwargs) -> None:
    email_address_deliverable_again(user_id=user.pk, email=to_email_address.email)


def _reject_unreadable(view):
    """Anymail's parsers let a body that is not what the provider sends (bad JSON, a
    list for an object, a missing field) raise; that is the caller's mistake: 400."""
    @wraps(view)
    def guarded(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
            log.warning("email webhook %s: unreadable body: %r", request.path, exc)
            return HttpResponseBadRequest("unreadable event", content_type="text/plain")
    return csrf_exempt(guarded)


def _webhook_urlpatterns() -> list[URLPattern]:
    from anymail import urls as anymail_urls

    return [URLPattern(pattern.pattern, _reject_unreadable(pattern.callback),
                       pattern.default_args, pattern.name)
            for pattern in anymail_urls.urlpatterns if isinstance(pattern, URLPattern)]


# portal/urls.py: path("webhooks/email/", include(bounces.webhook_urls)).
webhook_urls = (_webhook_urlpatterns(), "anymail")
