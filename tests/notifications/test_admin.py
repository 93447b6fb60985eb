"""Support sees every message with its attempts, asks for a failed one again, and finds
the failed ones from the admin's index; a sent message is never sent twice."""

import smtplib
from datetime import UTC, datetime

import pytest
import time_machine
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from notifications.models import Notification
from notifications.sms import LocmemBackend
from tests.factories import BundleFactory, OrderFactory, UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:notifications_notification_changelist"


def _agent(*codenames):
    """A support agent: staff, not a superuser, with only these permissions."""
    agent = UserFactory(email=f"agent-{'-'.join(codenames) or 'none'}@example.com",
                        is_staff=True)
    agent.user_permissions.set(Permission.objects.filter(
        content_type__app_label="notifications", codename__in=codenames))
    return agent


@pytest.fixture
def agent_client(client):
    client.force_login(_agent("view_notification", "change_notification"))
    return client


def _failed(customer, channel="email"):
    return Notification.objects.create(
        customer=customer, kind="order_paid", channel=channel,
        order=OrderFactory(customer=customer), status=Notification.Status.FAILED,
        attempt_count=5)


def _resend(client, *notifications):
    return client.post(reverse(CHANGELIST), {
        "action": "resend", "_selected_action": [n.pk for n in notifications]}, follow=True)


def test_a_failed_message_resent_is_sent_once_with_its_attempts_reset(
        agent_client, alice, django_capture_on_commit_callbacks):
    notification = _failed(alice)
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        response = _resend(agent_client, notification)

    assert "1 failed message will be sent again." in response.content.decode()
    notification.refresh_from_db()
    assert notification.status == Notification.Status.SENT
    assert notification.attempt_count == 1
    assert [m.to for m in mail.outbox] == [["alice@example.com"]]
    assert LogEntry.objects.filter(object_id=str(notification.pk)).count() == 1

    # The same click again (a double submit, a back button): it was sent, so nothing.
    with django_capture_on_commit_callbacks(execute=True):
        response = _resend(agent_client, notification)
    assert "sent already and is not sent twice" in response.content.decode()
    assert len(mail.outbox) == 1


def test_a_sent_message_is_not_sent_again(agent_client, alice,
                                          django_capture_on_commit_callbacks):
    notification = _failed(alice)
    Notification.objects.filter(pk=notification.pk).update(
        status=Notification.Status.SENT, sent_at=timezone.now(), attempt_count=1)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        _resend(agent_client, notification)
    notification.refresh_from_db()
    assert (notification.status, notification.attempt_count) == (Notification.Status.SENT, 1)
    assert mail.outbox == []


def test_a_resend_that_fails_again_counts_its_attempts_afresh(
        agent_client, alice, monkeypatch, django_capture_on_commit_callbacks):
    notification = _failed(alice)

    def down(*args, **kwargs):
        raise smtplib.SMTPServerDisconnected("connection lost")

    monkeypatch.setattr("django.core.mail.EmailMultiAlternatives.send", down)
    with django_capture_on_commit_callbacks(execute=True):
        _resend(agent_client, notification)
    notification.refresh_from_db()
    assert notification.status == Notification.Status.PENDING  # backing off, not failed
    assert notification.attempt_count == 1


def test_a_text_resent_at_night_waits_for_the_morning(agent_client, alice,
                                                      django_capture_on_commit_callbacks):
    alice.phone, alice.phone_verified_at, alice.time_zone = "+14155550100", timezone.now(), "UTC"
    alice.save()
    notification = _failed(alice, channel="sms")
    LocmemBackend.outbox.clear()
    with (time_machine.travel(datetime(2026, 3, 2, 23, 0, tzinfo=UTC), tick=False),
          django_capture_on_commit_callbacks(execute=True)):
        _resend(agent_client, notification)
    notification.refresh_from_db()
    assert notification.status == Notification.Status.PENDING
    assert notification.next_attempt_at == datetime(2026, 3, 3, 8, 0, tzinfo=UTC)
    assert LocmemBackend.outbox == []


def test_resend_is_a_post_and_needs_the_change_permission(client, alice):
    notification = _failed(alice)
    client.force_login(_agent("view_notification"))
    _resend(client, notification)
    client.get(reverse(CHANGELIST), {"action": "resend", "_selected_action": notification.pk})
    notification.refresh_from_db()
    assert (notification.status, notification.attempt_count) == (Notification.Status.FAILED, 5)


def test_the_list_shows_attempts_and_finds_a_message_by_iccid_email_or_order(agent_client,
                                                                             alice):
    bundle = BundleFactory(esim__owner=alice, esim__nickname="Alice phone")
    notification = Notification.objects.create(
        customer=alice, kind="data_alert", channel="sms", bundle=bundle, esim=bundle.esim,
        threshold=90, recipient="+14155550100", attempt_count=2)
    url = reverse(CHANGELIST)
    for query in (bundle.esim.iccid, "alice@example.com"):
        content = agent_client.get(url, {"q": query}).content.decode()
        assert "+14155550100" in content and "Alice phone" in content, query
    assert "+14155550100" not in agent_client.get(url, {"q": "nobody"}).content.decode()
    order_message = _failed(alice)
    content = agent_client.get(url, {"q": order_message.order.number}).content.decode()
    assert f"/{order_message.pk}/change/" in content
    assert f"/{notification.pk}/change/" not in content
    page = agent_client.get(reverse("admin:notifications_notification_change",
                                    args=[notification.pk]))
    assert page.status_code == 200 and 'name="status"' not in page.content.decode()


def test_the_index_shows_how_many_messages_failed(agent_client, alice, client):
    _failed(alice)
    _failed(alice)
    Notification.objects.create(customer=alice, kind="order_paid", channel="sms",
                                order=OrderFactory(customer=alice))
    content = agent_client.get(reverse("admin:index")).content.decode()
    assert "2 messages to customers failed." in content
    assert reverse(CHANGELIST) + "?status__exact=failed" in content

    client.force_login(_agent())  # staff who may not see messages are not told
    assert "failed." not in client.get(reverse("admin:index")).content.decode()


def test_the_failed_filter_lists_only_failed_messages(agent_client, alice):
    failed = _failed(alice)
    waiting = Notification.objects.create(customer=alice, kind="order_paid", channel="sms",
                                          order=failed.order)
    content = agent_client.get(reverse(CHANGELIST), {"status__exact": "failed"}).content.decode()
    assert f"/{failed.pk}/change/" in content and f"/{waiting.pk}/change/" not in content
