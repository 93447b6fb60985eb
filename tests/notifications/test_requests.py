"""Asking for messages (notifications/requests.py): one row per channel the customer gets
the kind on, made once however often it is asked; nothing on a channel switched off, no
text to an unverified number, no email to an address that bounced, texts held out of
the night."""

import zoneinfo
from datetime import datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from notifications.models import ChannelSetting, Notification
from notifications.requests import About, notifications_request
from notifications.sms import LocmemBackend
from tests.factories import BundleFactory, UserFactory

pytestmark = pytest.mark.django_db

K = Notification.Kind
NOON_UTC = datetime(2026, 11, 30, 12, 0, tzinfo=zoneinfo.ZoneInfo("UTC"))


@pytest.fixture(autouse=True)
def _quiet_hours(settings):
    settings.SMS_QUIET_HOURS_START, settings.SMS_QUIET_HOURS_END = 21, 8
    LocmemBackend.outbox.clear()
    yield
    LocmemBackend.outbox.clear()


def texted_customer(**extra):
    return UserFactory(phone="+14155550123", phone_verified_at=timezone.now(), **extra)


def ask(customer, kind=K.DATA_ALERT, *, threshold=75, now=NOON_UTC, bundle=None):
    bundle = bundle or BundleFactory(esim__owner=customer)
    made = notifications_request(kind=kind, now=now, about=[About(
        customer_id=customer.pk, bundle_id=bundle.pk, esim_id=bundle.esim_id,
        threshold=threshold)])
    return bundle, made


def channels(customer) -> list[str]:
    return sorted(Notification.objects.filter(customer=customer).values_list("channel",
                                                                            flat=True))


def test_one_row_per_channel_and_asking_again_makes_nothing():
    customer = texted_customer()
    bundle, made = ask(customer)
    assert len(made) == 2 and channels(customer) == ["email", "sms"]
    assert ask(customer, bundle=bundle)[1] == []
    assert ask(customer, bundle=bundle, now=NOON_UTC + timedelta(hours=1))[1] == []
    assert Notification.objects.count() == 2
    # Another step of the same kind is another message.
    assert len(ask(customer, bundle=bundle, threshold=90)[1]) == 2


def test_both_channels_off_nothing_is_made_or_sent(django_capture_on_commit_callbacks):
    customer = texted_customer()
    for channel in ("email", "sms"):
        ChannelSetting.objects.create(customer=customer, kind=K.DATA_ALERT, channel=channel,
                                      enabled=False)
    with django_capture_on_commit_callbacks(execute=True):
        assert ask(customer)[1] == []
    assert channels(customer) == [] and mail.outbox == [] and LocmemBackend.outbox == []
    # Only that kind: the plan's end still comes on both.
    assert len(ask(customer, K.EXPIRY_REMINDER, threshold=7)[1]) == 2


def test_an_unverified_number_gets_no_text():
    customer = UserFactory(phone="+14155550123", phone_verified_at=None)
    ask(customer)
    assert channels(customer) == ["email"]


def test_an_unsubscribed_kind_goes_only_on_the_other_channel():
    customer = texted_customer()
    ChannelSetting.objects.create(customer=customer, kind=K.DATA_ALERT, channel="email",
                                  enabled=False)
    ask(customer)
    assert channels(customer) == ["sms"]


def test_a_bounced_address_gets_no_email():
    customer = texted_customer(email_undeliverable_at=timezone.now())
    ask(customer)
    assert channels(customer) == ["sms"]


def test_a_kind_without_texts_is_never_texted_and_one_off_by_default_can_be_chosen():
    customer = texted_customer()
    ask(customer, K.ESIM_READY, threshold=0)  # SMS off by default
    assert channels(customer) == ["email"]
    ChannelSetting.objects.create(customer=customer, kind=K.ESIM_READY, channel="sms",
                                  enabled=True)
    ask(customer, K.ESIM_READY, threshold=0)
    assert channels(customer) == ["email", "email", "sms"]


def test_a_text_due_at_night_waits_for_the_morning_the_email_does_not(
        django_capture_on_commit_callbacks):
    customer = texted_customer(time_zone="Asia/Shanghai")
    night = datetime(2026, 11, 30, 23, 30, tzinfo=zoneinfo.ZoneInfo("Asia/Shanghai"))
    with time_machine.travel(night, tick=False), \
            django_capture_on_commit_callbacks(execute=True):
        ask(customer, now=night)
    email = Notification.objects.get(customer=customer, channel="email")
    text = Notification.objects.get(customer=customer, channel="sms")
    assert email.next_attempt_at == night
    assert text.next_attempt_at == datetime(2026, 12, 1, 8, 0,
                                            tzinfo=zoneinfo.ZoneInfo("Asia/Shanghai"))
    # The email was handed to a worker and sent; the text waits.
    assert len(mail.outbox) == 1 and LocmemBackend.outbox == []
    text.refresh_from_db()
    assert text.status == Notification.Status.PENDING


def test_requests_racing_each_other_make_each_message_once(transactional_db):
    """Two sweeps asking for the same messages at once, each in its own transaction:
    one row per channel, and each call returns only the rows it made."""
    import threading

    from django.db import connections, transaction

    customer = texted_customer()
    bundle = BundleFactory(esim__owner=customer)
    barrier = threading.Barrier(2)
    made: list[list[int]] = []

    def sweep():
        try:
            with transaction.atomic():
                barrier.wait(timeout=10)
                made.append(notifications_request(kind=K.DATA_ALERT, about=[About(
                    customer_id=customer.pk, bundle_id=bundle.pk, esim_id=bundle.esim_id,
                    threshold=90)]))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert channels(customer) == ["email", "sms"]
    assert sorted(len(ids) for ids in made) == [0, 2]
