from allauth.usersessions.adapter import get_adapter as usersessions_adapter
from allauth.usersessions.models import UserSession
from django.conf import settings
from django.db import transaction

from .models import User


@transaction.atomic
def customer_update_preferences(*, user: User, language: str, time_zone: str,
                                currency: str) -> User:
    """Language, time zone and currency. The mobile number is not here: it changes only
    with a code sent to it (notifications/phone.py)."""
    user.language = language
    user.time_zone = time_zone
    user.currency = currency
    user.save(update_fields=["language", "time_zone", "currency"])
    return user


def customer_start_preferences(*, user: User, time_zone: str, language: str) -> None:
    """A new account's zone (the browser's, normalised by the sign-up form) and language
    (the one the visitor was reading in), so the first pages and messages are in both."""
    user.time_zone = time_zone
    if language in dict(settings.LANGUAGES):
        user.language = language
    user.save(update_fields=["time_zone", "language"])


def customer_set_language(*, user: User, language: str) -> None:
    if user.language != language:
        user.language = language
        user.save(update_fields=["language"])


def customer_set_currency(*, user: User, currency: str) -> None:
    if user.currency != currency:
        user.currency = currency
        user.save(update_fields=["currency"])


def session_end(*, request, session: UserSession) -> bool:
    """End one of the customer's other sessions: it is signed out at its next request.
    The session of this request is not ended here (that is "Sign out"). Returns False
    when there was nothing to end."""
    if session.session_key == request.session.session_key:
        return False
    usersessions_adapter().end_sessions([session])
    return True
