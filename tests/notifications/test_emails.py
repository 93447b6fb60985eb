import smtplib
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from billing import services as billing
from billing.gateways.simulated import simulated_charge_decide
from notifications.models import Notification
from notifications.services import DeliveryError, notification_deliver
from tests.factories import OrderFactory, paid_new_esim_order

pytestmark = pytest.mark.django_db


def pay(order, capture):
    payment = billing.payment_start(order=order, return_url_for=lambda p: "/back")
    simulated_charge_decide(reference=payment.gateway_reference, outcome="success")
    with capture(execute=True):
        billing.payment_sync(payment_id=payment.pk)
        billing.payment_sync(payment_id=payment.pk)  # the browser and a sweep, say
    order.refresh_from_db()
    return order


def test_paid_order_emails_once_with_a_link_to_the_receipt(alice,
                                                           django_capture_on_commit_callbacks):
    order = pay(OrderFactory(customer=alice), django_capture_on_commit_callbacks)
    assert Notification.objects.get().status == Notification.Status.SENT
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["alice@example.com"] and order.number in message.subject
    assert f"/orders/receipts/{order.receipt.number}.pdf" in message.body
    html = message.alternatives[0][0]
    assert order.receipt.number in html and "US$8.00" in html


def test_email_is_in_the_customers_language(alice, django_capture_on_commit_callbacks):
    alice.language = "zh-hans"
    alice.save()
    order = pay(OrderFactory(customer=alice), django_capture_on_commit_callbacks)
    assert mail.outbox[0].subject == f"订单 {order.number} 已收到付款"


def test_delivering_twice_sends_once(alice, django_capture_on_commit_callbacks):
    pay(OrderFactory(customer=alice), django_capture_on_commit_callbacks)
    notification = Notification.objects.get()
    assert notification_deliver(notification_id=notification.pk) is False
    assert len(mail.outbox) == 1


def test_mail_server_down_is_retried_and_every_attempt_logged(alice, monkeypatch):
    order = OrderFactory(customer=alice)
    notification = Notification.objects.create(customer=alice, kind="order_paid",
                                               channel="email", order=order)

    def down(*args, **kwargs):
        raise smtplib.SMTPServerDisconnected("connection lost")

    monkeypatch.setattr("django.core.mail.EmailMultiAlternatives.send", down)
    with pytest.raises(DeliveryError):
        notification_deliver(notification_id=notification.pk)
    notification.refresh_from_db()
    assert notification.status == Notification.Status.PENDING
    monkeypatch.undo()
    with time_machine.travel(notification.next_attempt_at):  # once it is due again
        assert notification_deliver(notification_id=notification.pk) is True
    assert list(notification.attempts.values_list("succeeded", flat=True)) == [False, True]


def test_a_worker_that_died_while_sending_is_taken_over_later(alice):
    order = OrderFactory(customer=alice)
    notification = Notification.objects.create(
        customer=alice, kind="order_paid", channel="email", order=order,
        status=Notification.Status.SENDING, claimed_at=timezone.now())
    assert notification_deliver(notification_id=notification.pk) is False  # still claimed
    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        assert notification_deliver(notification_id=notification.pk) is True
    assert len(mail.outbox) == 1


def test_new_esim_ready_email_links_the_install_page(alice, carrier,
                                                     django_capture_on_commit_callbacks):
    order = paid_new_esim_order(alice)
    with django_capture_on_commit_callbacks(execute=True):
        billing.order_activate(order_id=order.pk)
    ready = Notification.objects.get(kind=Notification.Kind.ESIM_READY)
    assert ready.status == Notification.Status.SENT
    assert f"/esims/{order.esim_id}/install/" in mail.outbox[-1].body


def test_sweep_resends_messages_whose_task_was_lost(alice):
    from notifications import tasks

    order = OrderFactory(customer=alice)
    Notification.objects.create(customer=alice, kind="order_paid", channel="email",
                                order=order)
    assert tasks.notification_sweep() == 0  # too recent: its task may still be queued
    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        assert tasks.notification_sweep() == 1  # eager in tests: sent right away
    assert Notification.objects.get().status == Notification.Status.SENT
    assert len(mail.outbox) == 1


class FakeSMTP:
    """Stands in for smtplib.SMTP: counts connections and messages."""

    connections = 0
    sent = 0
    down = False

    def __init__(self, *args, **kwargs):
        if FakeSMTP.down:
            raise ConnectionRefusedError("mail server down")
        FakeSMTP.connections += 1

    def sendmail(self, *args, **kwargs):
        FakeSMTP.sent += 1

    def quit(self):
        pass

    def close(self):
        pass


def test_a_batch_of_messages_goes_over_one_mail_connection(alice, settings, monkeypatch):
    from notifications.services import notifications_deliver

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    monkeypatch.setattr("django.core.mail.backends.smtp.smtplib.SMTP", FakeSMTP)
    FakeSMTP.connections = FakeSMTP.sent = 0
    FakeSMTP.down = True
    ids = [Notification.objects.create(customer=alice, kind="order_paid", channel="email",
                                       order=OrderFactory(customer=alice)).pk
           for _ in range(3)]
    outcome = notifications_deliver(notification_ids=ids)
    assert all(error.retryable for error in outcome.values())  # each retried on its own
    assert set(Notification.objects.values_list("status", flat=True)) == {"pending"}

    FakeSMTP.down = False
    due = max(Notification.objects.values_list("next_attempt_at", flat=True))
    with time_machine.travel(due):  # once they are due again
        assert set(notifications_deliver(notification_ids=ids).values()) == {None}
    assert (FakeSMTP.connections, FakeSMTP.sent) == (1, 3)
