"""A message that could not be sent backs off, is claimed only when due, and ends as
failed after its last attempt (every sweep used to resend it, forever)."""

import contextlib
import smtplib
from datetime import timedelta

import time_machine
from django.core import mail
from django.utils import timezone

from notifications import tasks
from notifications.models import Notification
from notifications.services import CLAIM_TIMEOUT, notification_deliver
from tests.factories import OrderFactory


def _mail_server_down(monkeypatch):
    def down(*args, **kwargs):
        raise smtplib.SMTPServerDisconnected("connection lost")

    monkeypatch.setattr("django.core.mail.EmailMultiAlternatives.send", down)


def test_sweeps_respect_the_back_off_and_the_message_ends_failed(alice, monkeypatch,
                                                                 settings):
    settings.NOTIFICATION_MAX_ATTEMPTS = 6
    # Tasks run in-process here, so only the sweep tries again: back off in steps it sees.
    settings.TASK_RETRY_BACKOFF_SECONDS = 600
    settings.TASK_RETRY_BACKOFF_MAX_SECONDS = 24 * 3600
    _mail_server_down(monkeypatch)
    start = timezone.now()
    notification = Notification.objects.create(customer=alice, kind="order_paid",
                                               channel="email", order=OrderFactory(customer=alice))
    tries_at = []
    with time_machine.travel(start, tick=False) as clock:
        for _sweep in range(29 * 6):  # a sweep every 10 minutes for 29 hours
            clock.shift(timedelta(minutes=10))
            before = notification.attempts.count()
            tasks.notification_sweep()
            if notification.attempts.count() > before:
                tries_at.append(timezone.now())
    notification.refresh_from_db()
    assert notification.status == Notification.Status.FAILED
    assert notification.attempt_count == 6 == notification.attempts.count() == len(tries_at)
    gaps = [later - earlier for earlier, later in zip(tries_at, tries_at[1:], strict=False)]
    assert gaps == sorted(gaps) and gaps[-1] > gaps[0] * 4  # it backs off
    assert tasks.notification_sweep() == 0  # a failed message is left alone
    assert mail.outbox == []


def test_a_message_backing_off_is_not_claimed_before_it_is_due(alice, monkeypatch):
    notification = Notification.objects.create(customer=alice, kind="order_paid",
                                               channel="email", order=OrderFactory(customer=alice))
    _mail_server_down(monkeypatch)
    tasks.notification_send.delay(notification.pk)  # eager: fails once, not retried in-process
    monkeypatch.undo()
    notification.refresh_from_db()
    assert notification.status == Notification.Status.PENDING
    assert notification.next_attempt_at > timezone.now()
    assert notification_deliver(notification_id=notification.pk) is False  # not due
    assert tasks.notification_sweep() == 0
    with time_machine.travel(notification.next_attempt_at + timedelta(minutes=11)):
        assert tasks.notification_sweep() == 1
    notification.refresh_from_db()
    assert notification.status == Notification.Status.SENT
    assert notification.attempt_count == 2 and len(mail.outbox) == 1


def test_a_refused_address_fails_at_once(alice, monkeypatch):
    notification = Notification.objects.create(customer=alice, kind="order_paid",
                                               channel="email", order=OrderFactory(customer=alice))

    def refused(*args, **kwargs):
        raise smtplib.SMTPRecipientsRefused({alice.email: (550, b"no such user")})

    monkeypatch.setattr("django.core.mail.EmailMultiAlternatives.send", refused)
    tasks.notification_send.delay(notification.pk)
    notification.refresh_from_db()
    assert notification.status == Notification.Status.FAILED
    assert notification.attempt_count == 1


def test_a_crash_after_sending_leaves_the_claim_and_nothing_is_sent_again_before_it_expires(
        alice, monkeypatch):
    """The worker sent the email and died before marking it: the row stays claimed, a
    repeated task or a sweep sends nothing while the claim may still be alive."""
    from notifications.states import NOTIFICATION

    notification = Notification.objects.create(customer=alice, kind="order_paid",
                                               channel="email", order=OrderFactory(customer=alice))
    class DiesWhenMarkingSent:
        def move(self, queryset, *, to, **fields):
            if to == Notification.Status.SENT:
                raise SystemExit("worker killed")
            return NOTIFICATION.move(queryset, to=to, **fields)

    monkeypatch.setattr("notifications.services.NOTIFICATION", DiesWhenMarkingSent())
    with contextlib.suppress(SystemExit):
        notification_deliver(notification_id=notification.pk)
    monkeypatch.undo()
    assert len(mail.outbox) == 1
    notification.refresh_from_db()
    assert notification.status == Notification.Status.SENDING
    assert notification_deliver(notification_id=notification.pk) is False
    assert tasks.notification_sweep() == 0
    assert len(mail.outbox) == 1
    # Once the claim has expired it is sent again (never lost), as the same message: a
    # mailbox shows one email per Message-ID.
    with time_machine.travel(timezone.now() + CLAIM_TIMEOUT + timedelta(minutes=1)):
        assert tasks.notification_sweep() == 1
    assert len(mail.outbox) == 2
    first, again = (m.extra_headers["Message-ID"] for m in mail.outbox)
    assert first == again == f"<notification-{notification.pk}.{alice.pk}@127.0.0.1>"
