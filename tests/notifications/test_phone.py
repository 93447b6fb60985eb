"""Proving a mobile number by a code sent to it (notifications/phone.py), and its part of
the notifications page."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from accounts.models import PhoneVerification
from notifications.phone import (
    PhoneCodeRefused,
    code_hash,
    phone_code_check,
    phone_code_send,
    phone_state,
)
from notifications.sms import LocmemBackend, SmsError

pytestmark = pytest.mark.django_db

NUMBER = "+8613812345678"
OTHER = "+447700900123"


@pytest.fixture(autouse=True)
def outbox():
    LocmemBackend.outbox.clear()
    yield LocmemBackend.outbox
    LocmemBackend.outbox.clear()


def sent_code(outbox) -> str:
    match = re.search(r"\b(\d{6})\b", outbox[-1]["body"])
    assert match, outbox[-1]
    return match.group(1)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_a_code_is_texted_at_once_and_only_its_hash_is_kept(alice, outbox):
    assert phone_code_send(user=alice, phone=NUMBER)
    assert outbox[-1]["to"] == NUMBER
    code = sent_code(outbox)
    verification = PhoneVerification.objects.get(user=alice)
    assert code not in verification.code_hash
    assert verification.code_hash == code_hash(phone=NUMBER, code=code)
    alice.refresh_from_db()
    assert str(alice.phone) == NUMBER and alice.phone_verified_at is None
    assert phone_state(user=alice).code_pending


def test_the_right_code_verifies_the_number(alice, outbox):
    phone_code_send(user=alice, phone=NUMBER)
    phone_code_check(user=alice, code=sent_code(outbox))
    alice.refresh_from_db()
    assert alice.phone_verified_at is not None
    assert phone_state(user=alice).verified
    # The same code cannot be used again.
    with pytest.raises(PhoneCodeRefused):
        phone_code_check(user=alice, code=sent_code(outbox))


def test_wrong_codes_are_counted_and_then_even_the_right_one_is_refused(alice, outbox,
                                                                       settings):
    settings.PHONE_CODE_MAX_ATTEMPTS = 3
    phone_code_send(user=alice, phone=NUMBER)
    code = sent_code(outbox)
    for left in (2, 1):
        with pytest.raises(PhoneCodeRefused, match=f"{left} tr"):
            phone_code_check(user=alice, code=wrong(code))
    with pytest.raises(PhoneCodeRefused, match="Too many"):
        phone_code_check(user=alice, code=wrong(code))
    assert PhoneVerification.objects.get(user=alice).attempts == 3
    with pytest.raises(PhoneCodeRefused, match="Too many"):
        phone_code_check(user=alice, code=code)
    alice.refresh_from_db()
    assert alice.phone_verified_at is None


def test_a_code_expires(alice, outbox, settings):
    settings.PHONE_CODE_MINUTES = 10
    with time_machine.travel(timezone.now(), tick=False) as clock:
        phone_code_send(user=alice, phone=NUMBER)
        clock.shift(timedelta(minutes=10, seconds=1))
        with pytest.raises(PhoneCodeRefused, match="expired"):
            phone_code_check(user=alice, code=sent_code(outbox))
    alice.refresh_from_db()
    assert alice.phone_verified_at is None


def test_sending_is_limited_per_hour(alice, outbox, settings):
    settings.PHONE_CODE_SENDS_PER_HOUR = 3
    with time_machine.travel(timezone.now(), tick=False) as clock:
        for _ in range(3):
            phone_code_send(user=alice, phone=NUMBER)
        with pytest.raises(PhoneCodeRefused, match="3 codes in the last hour"):
            phone_code_send(user=alice, phone=NUMBER)
        assert len(outbox) == 3
        # Only the latest code counts.
        codes = [re.search(r"\d{6}", text["body"]).group(0) for text in outbox]
        if codes[0] != codes[-1]:
            with pytest.raises(PhoneCodeRefused):
                phone_code_check(user=alice, code=codes[0])
        clock.shift(timedelta(hours=1, seconds=1))
        phone_code_send(user=alice, phone=NUMBER)
        assert len(outbox) == 4
        phone_code_check(user=alice, code=sent_code(outbox))


def test_changing_the_number_clears_its_verification(alice, outbox):
    phone_code_send(user=alice, phone=NUMBER)
    phone_code_check(user=alice, code=sent_code(outbox))
    # The verified number again: nothing to send.
    assert not phone_code_send(user=alice, phone=NUMBER)
    assert len(outbox) == 1
    phone_code_send(user=alice, phone=OTHER)
    alice.refresh_from_db()
    assert str(alice.phone) == OTHER and alice.phone_verified_at is None
    assert outbox[-1]["to"] == OTHER


def test_a_code_for_a_number_changed_since_verifies_nothing(alice, outbox):
    phone_code_send(user=alice, phone=NUMBER)
    code = sent_code(outbox)
    type(alice).objects.filter(pk=alice.pk).update(phone=OTHER)
    with pytest.raises(PhoneCodeRefused, match="number changed"):
        phone_code_check(user=alice, code=code)
    alice.refresh_from_db()
    assert alice.phone_verified_at is None


def test_a_text_that_could_not_be_sent_is_told_and_its_code_never_works(alice, outbox,
                                                                        monkeypatch):
    def refuse(self, *, to, body):
        outbox.append({"to": to, "body": body})  # as if it left, to read the code
        raise SmsError("twilio 400/21211: invalid", code="twilio_21211", retryable=False)

    monkeypatch.setattr(LocmemBackend, "send", refuse)
    with pytest.raises(PhoneCodeRefused, match="could not send"):
        phone_code_send(user=alice, phone=NUMBER)
    with pytest.raises(PhoneCodeRefused):
        phone_code_check(user=alice, code=sent_code(outbox))


# --- The page.

def page(client):
    response = client.get(reverse("notifications:preferences"))
    assert response.status_code == 200
    return response.content.decode()


def test_the_page_sends_and_checks_a_code(alice_client, alice, outbox):
    url = reverse("notifications:preferences")
    response = alice_client.post(url, {"action": "phone", "phone": "+86 138 1234 5678"})
    assert response.status_code == 302
    assert outbox[-1]["to"] == NUMBER
    assert "We texted a code" in page(alice_client)
    response = alice_client.post(url, {"action": "verify", "code": wrong(sent_code(outbox))},
                                 follow=True)
    assert "not right" in response.content.decode()
    response = alice_client.post(url, {"action": "verify", "code": sent_code(outbox)},
                                 follow=True)
    assert "verified" in response.content.decode()
    alice.refresh_from_db()
    assert alice.phone_verified_at is not None


@pytest.mark.parametrize("number", ["12", "not a number", "+1" + "9" * 30, ""])
def test_a_bad_number_is_refused_and_changes_nothing(alice_client, alice, outbox, number):
    response = alice_client.post(reverse("notifications:preferences"),
                                 {"action": "phone", "phone": number})
    assert response.status_code == 400
    assert not outbox
    alice.refresh_from_db()
    assert not alice.phone


@pytest.mark.parametrize("code", ["", "abc", "1234567", "12 34"])
def test_a_malformed_code_is_refused_without_counting(alice_client, alice, outbox, code):
    phone_code_send(user=alice, phone=NUMBER)
    response = alice_client.post(reverse("notifications:preferences"),
                                 {"action": "verify", "code": code})
    assert response.status_code == 400
    assert PhoneVerification.objects.get(user=alice).attempts == 0


def test_the_page_tells_a_provider_failure_without_a_500(alice_client, alice, monkeypatch):
    def refuse(self, *, to, body):
        raise SmsError("twilio unreachable", code="connection", retryable=True)

    monkeypatch.setattr(LocmemBackend, "send", refuse)
    response = alice_client.post(reverse("notifications:preferences"),
                                 {"action": "phone", "phone": NUMBER}, follow=True)
    assert response.status_code == 200
    assert "could not send a text" in response.content.decode()
