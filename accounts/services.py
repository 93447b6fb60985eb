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


def customer_set_language(*, user: User, language: str) -> None:
    if user.language != language:
        user.language = language
        user.save(update_fields=["language"])


def customer_set_currency(*, user: User, currency: str) -> None:
    if user.currency != currency:
        user.currency = currency
        user.save(update_fields=["currency"])
