"""Signed links in messages that work without signing in: unsubscribe from one kind of
message (RFC 8058 one-click too), and skip one auto-renewal. Each is signed with the
portal's SECRET_KEY and its own salt, so one kind of link cannot stand for another, and
carries only ids: nothing a reader could change without breaking the signature.
"""

from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.urls import reverse

_UNSUBSCRIBE = "notifications.unsubscribe"
_SKIP_RENEWAL = "notifications.skip-renewal"
# A reminder's skip link is good until well after the renewal it skips.
SKIP_RENEWAL_MAX_AGE = 60 * 24 * 3600


@dataclass(frozen=True)
class Unsubscribe:
    customer_id: int
    kind: str
    channel: str


def unsubscribe_token(*, customer_id: int, kind: str, channel: str) -> str:
    return signing.dumps([customer_id, kind, channel], salt=_UNSUBSCRIBE, compress=True)


def unsubscribe_read(token: str) -> Unsubscribe | None:
    """The link's content, or None when it was not made here (or was altered). An
    unsubscribe link does not expire: an old message must still work."""
    try:
        customer_id, kind, channel = signing.loads(token, salt=_UNSUBSCRIBE)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not (isinstance(customer_id, int) and isinstance(kind, str)
            and isinstance(channel, str)):
        return None
    return Unsubscribe(customer_id=customer_id, kind=kind, channel=channel)


def unsubscribe_url(*, customer_id: int, kind: str, channel: str) -> str:
    return settings.PORTAL_BASE_URL + reverse("notifications:unsubscribe", args=[
        unsubscribe_token(customer_id=customer_id, kind=kind, channel=channel)])


@dataclass(frozen=True)
class SkipRenewal:
    esim_id: int
    bundle_id: int


def skip_renewal_token(*, esim_id: int, bundle_id: int) -> str:
    return signing.dumps([esim_id, bundle_id], salt=_SKIP_RENEWAL, compress=True)


def skip_renewal_read(token: str) -> SkipRenewal | None:
    try:
        esim_id, bundle_id = signing.loads(token, salt=_SKIP_RENEWAL,
                                           max_age=SKIP_RENEWAL_MAX_AGE)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not (isinstance(esim_id, int) and isinstance(bundle_id, int)):
        return None
    return SkipRenewal(esim_id=esim_id, bundle_id=bundle_id)


def skip_renewal_url(*, esim_id: int, bundle_id: int) -> str:
    return settings.PORTAL_BASE_URL + reverse("notifications:skip_renewal", args=[
        skip_renewal_token(esim_id=esim_id, bundle_id=bundle_id)])


def message_short_url(*, notification_id: int) -> str:
    """The short link a text carries: it names the message, opens only for its customer
    signed in (notifications.views.message_go), and goes on to the message's action."""
    return settings.PORTAL_BASE_URL + reverse("notifications:go", args=[notification_id])
