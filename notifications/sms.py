"""Texts to mobile numbers through one small interface, chosen by SMS_BACKEND.

A backend has one method, `send(to, body)`, and maps every failure to the project's
error contract (portal/errors.py) as `SmsError`: `retryable` when trying again may help
(the provider busy or unreachable), not when it will not (a number that cannot get
texts). Adding a provider is one class here and one name in `BACKENDS`.
"""

import logging
import sys

from django.conf import settings

from portal.errors import ExternalError, ensure_outside_transaction

log = logging.getLogger(__name__)


class SmsError(ExternalError):
    """The text was not sent."""


class ConsoleBackend:
    """Development: prints each text where `make run` shows its output."""

    def send(self, *, to: str, body: str) -> str:
        sys.stdout.write(f"--- SMS to {to} ---\n{body}\n---\n")
        sys.stdout.flush()
        return "console"


class LocmemBackend:
    """Tests: keeps each text in `outbox`, as Django's locmem email backend does."""

    outbox: list[dict[str, str]] = []

    def send(self, *, to: str, body: str) -> str:
        LocmemBackend.outbox.append({"to": to, "body": body})
        return f"locmem-{len(LocmemBackend.outbox)}"


# Twilio error codes that no retry fixes: an invalid or unreachable number, a number
# that replied STOP, a landline, a region not enabled on the account.
_TWILIO_FINAL = {21211, 21214, 21407, 21408, 21606, 21610, 21612, 21614, 21617, 21635}


class TwilioBackend:
    """Production: Twilio's Messages API through its SDK."""

    def __init__(self) -> None:
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        self._client = Client(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN,
                              http_client=TwilioHttpClient(timeout=10))

    def send(self, *, to: str, body: str) -> str:
        from twilio.base.exceptions import TwilioException, TwilioRestException

        sender = settings.TWILIO_FROM
        kwargs = ({"messaging_service_sid": sender} if sender.startswith("MG")
                  else {"from_": sender})
        try:
            message = self._client.messages.create(to=to, body=body, **kwargs)
        except TwilioRestException as exc:
            final = exc.code in _TWILIO_FINAL or (400 <= exc.status < 500
                                                  and exc.status not in (408, 429))
            raise SmsError(f"twilio {exc.status}/{exc.code}: {exc.msg}",
                           code=f"twilio_{exc.code or exc.status}", retryable=not final) from exc
        except (TwilioException, OSError) as exc:  # no answer, a timeout, a TLS error
            raise SmsError(f"twilio unreachable: {exc}", code="connection",
                           retryable=True) from exc
        return str(message.sid)


BACKENDS = {"console": ConsoleBackend, "locmem": LocmemBackend, "twilio": TwilioBackend}


def sms_backend():
    try:
        return BACKENDS[settings.SMS_BACKEND]()
    except KeyError:
        raise SmsError(f"SMS_BACKEND={settings.SMS_BACKEND!r} is not one of "
                       f"{', '.join(BACKENDS)}", code="config", retryable=False) from None


def sms_send(*, to: str, body: str) -> str:
    """Send one text now (never inside a transaction); returns the provider's id."""
    ensure_outside_transaction("sms")
    return sms_backend().send(to=to, body=body)
