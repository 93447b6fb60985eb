"""Proving a mobile number is the customer's: a 6-digit code sent to it by SMS, typed back.

The rules, in one place:
- Entering or changing the number stores it unverified (a new number is never trusted
  for SMS) and sends a code at once. A security code ignores quiet hours.
- Only a keyed hash of the code is kept. A code expires after PHONE_CODE_MINUTES, and
  only the latest one sent counts.
- At most PHONE_CODE_SENDS_PER_HOUR codes are sent to a customer per hour (resending
  included, failed sends too: each costs a call to the provider), and at most
  PHONE_CODE_MAX_ATTEMPTS wrong codes are accepted for one code.
- A right code verifies the number only if it is still the number the code went to.
- The text is sent outside any transaction; a provider's failure is told to the
  customer in plain words, and the code it carried can never be used.
"""

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.models import PhoneVerification, User

from .sms import SmsError, sms_send

log = logging.getLogger(__name__)

CODE_DIGITS = 6
_HASH_SALT = "notifications.phone.code"


class PhoneCodeRefused(Exception):
    """The code was not sent or not accepted; `str()` is the reason, for the customer."""


@dataclass(frozen=True)
class PhoneState:
    """The customer's number as the notifications page shows it."""

    phone: str
    verified: bool
    code_pending: bool  # a code was sent to this number and can still be typed


def code_hash(*, phone: str, code: str) -> str:
    """A keyed hash (SECRET_KEY) of the code and the number it went to: a copy of the
    table tells nobody the codes."""
    return salted_hmac(_HASH_SALT, f"{phone}:{code}", algorithm="sha256").hexdigest()


def _new_code() -> str:
    return f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"


def phone_state(*, user: User) -> PhoneState:
    """The number, whether it is verified, and whether a code for it is waiting."""
    phone = str(user.phone) if user.phone else ""
    latest = _latest(user) if phone else None
    pending = (latest is not None and str(latest.phone) == phone and _usable(latest))
    return PhoneState(phone=phone, verified=bool(phone and user.phone_verified_at),
                      code_pending=pending)


def _latest(user: User) -> PhoneVerification | None:
    return PhoneVerification.objects.filter(user=user).order_by("-created_at", "-pk").first()


def _usable(verification: PhoneVerification) -> bool:
    return (verification.verified_at is None and verification.expires_at > timezone.now()
            and verification.attempts < settings.PHONE_CODE_MAX_ATTEMPTS)


def phone_code_send(*, user: User, phone) -> bool:
    """Store `phone` (E.164, from a PhoneNumberField) as the customer's number and text it
    a new code; False (nothing sent) when it is their verified number already. A changed
    number loses its verification. Raises PhoneCodeRefused when the hourly limit is
    reached or the text could not be sent."""
    number = str(phone)
    code = _new_code()
    verification = _code_create(user=user, number=number, code=code)
    if verification is None:
        return False
    with translation.override(user.language):
        body = ngettext(
            "Your eSIM Portal code is %(code)s. It expires in %(minutes)s minute.",
            "Your eSIM Portal code is %(code)s. It expires in %(minutes)s minutes.",
            settings.PHONE_CODE_MINUTES) % {"code": code, "minutes": settings.PHONE_CODE_MINUTES}
    try:
        sms_send(to=number, body=body)
    except SmsError as exc:
        log.warning("verification code to user %s not sent: %s", user.pk, exc)
        # The code went nowhere: it must never verify the number.
        PhoneVerification.objects.filter(pk=verification.pk).update(expires_at=timezone.now())
        raise PhoneCodeRefused(_("We could not send a text to this number. Check it, or try "
                                 "again in a few minutes.")) from exc
    return True


@transaction.atomic
def _code_create(*, user: User, number: str, code: str) -> PhoneVerification | None:
    # The customer's row is locked so that two requests side by side cannot both pass
    # the hourly limit.
    locked = User.objects.select_for_update().get(pk=user.pk)
    if str(locked.phone) == number and locked.phone_verified_at is not None:
        return None
    now = timezone.now()
    sent = PhoneVerification.objects.filter(user=locked,
                                            created_at__gt=now - timedelta(hours=1)).count()
    if sent >= settings.PHONE_CODE_SENDS_PER_HOUR:
        raise PhoneCodeRefused(ngettext(
            "We sent %(n)s code in the last hour, the most we send. Try again later.",
            "We sent %(n)s codes in the last hour, the most we send. Try again later.",
            sent) % {"n": sent})
    if str(locked.phone) != number:
        locked.phone = number
        locked.phone_verified_at = None
        locked.save(update_fields=["phone", "phone_verified_at"])
        user.phone, user.phone_verified_at = locked.phone, None
    return PhoneVerification.objects.create(
        user=locked, phone=number, code_hash=code_hash(phone=number, code=code),
        created_at=now, expires_at=now + timedelta(minutes=settings.PHONE_CODE_MINUTES))


def phone_code_check(*, user: User, code: str) -> None:
    """Verify the customer's number with the code typed. Raises PhoneCodeRefused (after
    counting a wrong guess) when the code is wrong, expired, used up, or was sent to a
    number the customer has changed since."""
    refusal = _code_check(user=user, code=code.strip())
    if refusal:
        raise PhoneCodeRefused(refusal)
    user.refresh_from_db(fields=["phone", "phone_verified_at"])


@transaction.atomic
def _code_check(*, user: User, code: str) -> str:
    """The reason the code is refused, or "" once the number is verified. A wrong guess is
    counted in the same transaction, which commits either way."""
    locked = User.objects.select_for_update().get(pk=user.pk)
    latest = (PhoneVerification.objects.select_for_update()
              .filter(user=locked).order_by("-created_at", "-pk").first())
    now = timezone.now()
    if latest is None or latest.verified_at is not None:
        return _("No code is waiting. Send a new one.")
    if str(latest.phone) != str(locked.phone):
        return _("The number changed after this code was sent. Send a new one.")
    if latest.expires_at <= now:
        return _("This code has expired. Send a new one.")
    if latest.attempts >= settings.PHONE_CODE_MAX_ATTEMPTS:
        return _("Too many wrong codes. Send a new one.")
    if not constant_time_compare(latest.code_hash,
                                 code_hash(phone=str(latest.phone), code=code)):
        latest.attempts += 1
        latest.save(update_fields=["attempts"])
        left = settings.PHONE_CODE_MAX_ATTEMPTS - latest.attempts
        if left <= 0:
            return _("Too many wrong codes. Send a new one.")
        return ngettext("That code is not right. %(n)s try left.",
                        "That code is not right. %(n)s tries left.", left) % {"n": left}
    latest.verified_at = now
    latest.save(update_fields=["verified_at"])
    locked.phone_verified_at = now
    locked.save(update_fields=["phone_verified_at"])
    return ""


@transaction.atomic
def phone_remove(*, user: User) -> None:
    """Forget the customer's number: no SMS goes out until they add and verify one."""
    User.objects.filter(pk=user.pk).update(phone="", phone_verified_at=None)
    user.phone, user.phone_verified_at = "", None
