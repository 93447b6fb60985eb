"""Texts: to a verified number only, short, in the customer's language, never at night
(held until morning and then sent once), and the provider's errors retried or not as
the error contract says."""

import zoneinfo
from datetime import datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from accounts.models import User
from notifications import sms, tasks
from notifications.models import Notification
from notifications.requests import About, notifications_request
from notifications.services import CLAIM_TIMEOUT, DeliveryError, notification_deliver
from notifications.sms import LocmemBackend, SmsError
from tests.factories import BundleFactory

pytestmark = pytest.mark.django_db

NUMBER = "+14155550123"


@pytest.fixture(autouse=True)
def _empty_outbox():
    LocmemBackend.outbox.clear()
    yield
    LocmemBackend.outbox.clear()


@pytest.fixture
def texted(alice):
    """Alice with a verified mobile number, in New York."""
    User.objects.filter(pk=alice.pk).update(phone=NUMBER, phone_verified_at=timezone.now(),
                                            time_zone="America/New_York")
    alice.refresh_from_db()
    return alice


def _text(customer, kind="esim_expired", threshold=0):
    bundle = BundleFactory(esim__owner=customer, esim__nickname="Alice's phone")
    return Notification.objects.create(customer=customer, kind=kind, channel="sms",
                                       bundle=bundle, esim=bundle.esim, threshold=threshold)


def test_a_text_goes_to_the_verified_number_with_a_short_link(texted):
    notification = _text(texted)
    assert notification_deliver(notification_id=notification.pk) is True
    [text] = LocmemBackend.outbox
    assert text["to"] == NUMBER
    assert text["body"] == ("eSIM Portal: the plan on Alice's phone has ended. Renew: "
                            f"http://127.0.0.1:8000/m/{notification.pk}")
    notification.refresh_from_db()
    assert notification.status == Notification.Status.SENT and notification.recipient == NUMBER
    assert notification_deliver(notification_id=notification.pk) is False  # once
    assert len(LocmemBackend.outbox) == 1


@pytest.mark.parametrize("kind,threshold", [("expiry_reminder", 7), ("data_alert", 90),
                                            ("out_of_data", 0), ("esim_expired", 0)])
@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_texts_are_short_and_one_line(texted, kind, threshold, language):
    User.objects.filter(pk=texted.pk).update(language=language)
    texted.refresh_from_db()
    assert notification_deliver(notification_id=_text(texted, kind, threshold).pk) is True
    [text] = LocmemBackend.outbox
    assert "\n" not in text["body"] and len(text["body"]) <= 160
    assert "http://127.0.0.1:8000/" in text["body"]


def test_a_number_no_longer_verified_fails_at_once(texted):
    notification = _text(texted)
    User.objects.filter(pk=texted.pk).update(phone_verified_at=None)
    with pytest.raises(DeliveryError) as caught:
        notification_deliver(notification_id=notification.pk)
    assert caught.value.retryable is False
    notification.refresh_from_db()
    assert notification.status == Notification.Status.FAILED
    assert notification.attempt_count == 1 and LocmemBackend.outbox == []


class _Refusing:
    """A provider that answers with `error` this many times, then sends."""

    error: SmsError
    failures = 0

    def send(self, *, to, body):
        if _Refusing.failures:
            _Refusing.failures -= 1
            raise _Refusing.error
        return LocmemBackend().send(to=to, body=body)


@pytest.fixture
def refusing(settings, monkeypatch):
    monkeypatch.setitem(sms.BACKENDS, "refusing", _Refusing)
    settings.SMS_BACKEND = "refusing"
    return _Refusing


def test_a_provider_that_may_recover_is_tried_again_later(texted, refusing):
    refusing.error, refusing.failures = SmsError("busy", code="twilio_20429",
                                                 retryable=True, retry_after=120), 1
    notification = _text(texted)
    tasks.notification_send.delay(notification.pk)  # eager: not retried in-process
    notification.refresh_from_db()
    assert notification.status == Notification.Status.PENDING
    assert notification.next_attempt_at >= timezone.now() + timedelta(seconds=119)
    assert LocmemBackend.outbox == []
    with time_machine.travel(notification.next_attempt_at + CLAIM_TIMEOUT
                             + timedelta(seconds=1)):
        assert tasks.notification_sweep() == 1
    notification.refresh_from_db()
    assert notification.status == Notification.Status.SENT and len(LocmemBackend.outbox) == 1
    assert list(notification.attempts.values_list("succeeded", flat=True)) == [False, True]


def test_a_number_the_provider_refuses_fails_without_retries(texted, refusing):
    refusing.error, refusing.failures = SmsError("landline", code="twilio_21614",
                                                 retryable=False), 1
    notification = _text(texted)
    tasks.notification_send.delay(notification.pk)
    notification.refresh_from_db()
    assert notification.status == Notification.Status.FAILED
    assert notification.attempt_count == 1
    with time_machine.travel(timezone.now() + timedelta(days=1)):
        assert tasks.notification_sweep() == 0


def test_twilio_errors_map_to_the_error_contract(settings, monkeypatch):
    from twilio.base.exceptions import TwilioRestException

    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = "AC123", "token"
    settings.TWILIO_FROM = "+15005550006"
    backend = sms.TwilioBackend()

    def answer(status, code):
        def create(**kwargs):
            raise TwilioRestException(status, "https://api.twilio.com", msg="no", code=code)
        monkeypatch.setattr(backend._client.messages, "create", create)
        with pytest.raises(SmsError) as caught:
            backend.send(to=NUMBER, body="hi")
        return caught.value.retryable

    assert answer(400, 21211) is False  # an invalid number
    assert answer(429, 20429) is True  # too many requests
    assert answer(503, None) is True


def test_no_text_at_night_it_waits_for_the_morning_and_goes_once(texted):
    """Asked for at 23:00 in New York: held until 08:00 there, then the sweep sends it."""
    new_york = zoneinfo.ZoneInfo("America/New_York")
    night = datetime(2026, 3, 10, 23, 0, tzinfo=new_york)
    bundle = BundleFactory(esim__owner=texted)
    with time_machine.travel(night, tick=False) as clock:
        notifications_request(kind="esim_expired", about=[About(
            customer_id=texted.pk, bundle_id=bundle.pk, esim_id=bundle.esim_id)])
        notification = Notification.objects.get(channel="sms")
        pk = notification.pk
        assert notification.next_attempt_at == datetime(2026, 3, 11, 8, 0, tzinfo=new_york)
        assert notification_deliver(notification_id=pk) is False  # not due
        clock.move_to(datetime(2026, 3, 11, 7, 55, tzinfo=new_york))
        tasks.notification_sweep()  # the email (its task was queued at night) may go
        assert LocmemBackend.outbox == []
        clock.move_to(datetime(2026, 3, 11, 8, 5, tzinfo=new_york))  # the next sweep
        assert tasks.notification_sweep() == 1
        assert tasks.notification_sweep() == 0
    assert len(LocmemBackend.outbox) == 1
    notification.refresh_from_db()
    assert notification.status == Notification.Status.SENT


def test_crash_before_or_after_sending_a_text(texted, monkeypatch):
    """A worker that died with a text claimed: whether or not it went out, nobody sends
    it again until the claim times out; then it is sent once."""
    notification = _text(texted)
    Notification.objects.filter(pk=notification.pk).update(
        status=Notification.Status.SENDING, claimed_at=timezone.now(), attempt_count=1)
    assert tasks.notification_sweep() == 0
    assert notification_deliver(notification_id=notification.pk) is False
    assert LocmemBackend.outbox == []
    with time_machine.travel(timezone.now() + CLAIM_TIMEOUT + timedelta(seconds=1)):
        assert tasks.notification_sweep() == 1
        assert tasks.notification_sweep() == 0
    assert len(LocmemBackend.outbox) == 1


def test_each_text_is_marked_sent_as_soon_as_it_went(texted, monkeypatch):
    """A worker killed midway through a batch of texts (no clean-up runs) leaves only
    the text it was sending unmarked: each one before it was marked sent, in the
    database, before the next was sent."""
    from notifications.services import notifications_deliver

    texts = [_text(texted) for _ in range(3)]
    seen = []

    def send(*, to, body):
        seen.append(sorted(Notification.objects.filter(
            pk__in=[t.pk for t in texts], status=Notification.Status.SENT)
            .values_list("pk", flat=True)))
        return "ok"

    monkeypatch.setattr("notifications.services.sms_send", send)
    notifications_deliver(notification_ids=[t.pk for t in texts])
    assert seen == [[], [texts[0].pk], [texts[0].pk, texts[1].pk]]


def test_the_short_link_opens_the_message_action_for_its_customer_only(texted, client, bob):
    """A text's link is short (one segment) and names the message; it opens for its
    customer once signed in, and goes on to what the message asks them to do."""
    notification = _text(texted, "data_alert", 90)
    assert notification_deliver(notification_id=notification.pk) is True
    link = f"/m/{notification.pk}"
    assert LocmemBackend.outbox[0]["body"].endswith(link)
    anonymous = client.get(link)
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    client.force_login(bob)
    assert client.get(link).status_code == 404  # someone else's message
    client.force_login(texted)
    response = client.get(link)
    assert response.status_code == 302
    assert response["Location"].endswith(f"/orders/topup/{notification.esim_id}/")
    assert client.post(link).status_code == 405  # it changes nothing


def test_an_expiry_reminder_link_goes_to_renew_with_the_plan_chosen(texted, client):
    notification = _text(texted, "expiry_reminder", 7)
    client.force_login(texted)
    response = client.get(f"/m/{notification.pk}")
    assert response.status_code == 302
    assert f"/orders/renew/{notification.esim_id}/" in response["Location"]
