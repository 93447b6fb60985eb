import re
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


# --- Plain subjects, one-click unsubscribe, both languages, links on PORTAL_BASE_URL.

def _plan_message(customer, kind, *, channel="email", threshold=0, **bundle_fields):
    """A message about a running plan of `customer`'s eSIM."""
    from tests.factories import BundleFactory

    bundle = BundleFactory(esim__owner=customer, **bundle_fields)
    return Notification.objects.create(customer=customer, kind=kind, channel=channel,
                                       bundle=bundle, esim=bundle.esim, threshold=threshold)


def test_subjects_are_plain_text(alice):
    order = OrderFactory(customer=alice, nickname="Alice's iPhone <3")
    notification = Notification.objects.create(customer=alice, kind="esim_ready",
                                               channel="email", order=order)
    assert notification_deliver(notification_id=notification.pk) is True
    message = mail.outbox[0]
    assert message.subject == "Your eSIM for Alice's iPhone <3 is ready to install"
    assert "Alice's iPhone <3" in message.body  # the text is not HTML either
    assert "Alice&#x27;s iPhone &lt;3" in message.alternatives[0][0]  # the HTML is escaped


def test_every_email_has_a_one_click_unsubscribe_for_its_kind(alice):
    from notifications.links import unsubscribe_read

    notification = _plan_message(alice, "data_alert", threshold=90)
    assert notification_deliver(notification_id=notification.pk) is True
    message = mail.outbox[0]
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    header = message.extra_headers["List-Unsubscribe"]
    assert header.startswith("<http://127.0.0.1:8000/n/unsubscribe/") and header.endswith(">")
    url = header[1:-1]
    token = url.rstrip("/").rsplit("/", 1)[1]
    read = unsubscribe_read(token)
    assert read is not None
    assert (read.customer_id, read.kind, read.channel) == (alice.pk, "data_alert", "email")
    html = message.alternatives[0][0]
    assert url in html and url in message.body
    assert "/account/notifications/" in html and "/account/notifications/" in message.body
    assert str(message.message()["List-Unsubscribe"]) == header  # it reaches the wire


@pytest.mark.parametrize("language", ["en", "zh-hans"])
@pytest.mark.parametrize("kind,threshold", [("expiry_reminder", 7), ("data_alert", 75),
                                            ("out_of_data", 0), ("esim_expired", 0)])
def test_plan_messages_render_html_and_text_in_each_language(alice, kind, threshold,
                                                             language):
    alice.language = language
    alice.save()
    notification = _plan_message(alice, kind, threshold=threshold)
    assert notification_deliver(notification_id=notification.pk) is True
    message = mail.outbox[0]
    html = message.alternatives[0][0]
    lang = {"en": "en", "zh-hans": "zh-Hans"}[language]
    assert f'<html lang="{lang}">' in html and "#0b63ce" in html  # the portal's look
    assert message.subject and "\n" not in message.subject
    assert "http://127.0.0.1:8000/" in message.body
    # Every message points at the help centre, in both parts.
    assert "http://127.0.0.1:8000/help/" in message.body
    assert 'href="http://127.0.0.1:8000/help/"' in html
    notification.refresh_from_db()
    assert notification.recipient == "alice@example.com"


def test_data_alert_says_when_the_figure_was_reported(alice):
    now = timezone.now()
    with time_machine.travel(now, tick=False):
        notification = _plan_message(
            alice, "data_alert", threshold=75, data_allowance_bytes=4 * 1024 ** 3,
            data_used_bytes=3 * 1024 ** 3, usage_reported_at=now - timedelta(minutes=12))
        assert notification_deliver(notification_id=notification.pk) is True
    message = mail.outbox[0]
    assert "1.00 GB left" in message.body
    assert "updated 12 min ago" in message.body
    assert "updated 12 min ago" in message.alternatives[0][0]


def test_expiry_reminder_offers_the_renew_link_with_the_plan(alice):
    notification = _plan_message(alice, "expiry_reminder", threshold=7)
    assert notification_deliver(notification_id=notification.pk) is True
    esim = notification.esim
    assert f"/orders/renew/{esim.pk}/?plan={notification.bundle.plan_code}" in mail.outbox[0].body


def test_expiry_reminder_with_auto_renewal_says_the_charge_and_how_to_skip(alice):
    from tests.factories import auto_renewing_esim

    esim = auto_renewing_esim(alice, ends_in=timedelta(days=7))
    bundle = esim.bundles.get()
    notification = Notification.objects.create(customer=alice, kind="expiry_reminder",
                                               channel="email", bundle=bundle, esim=esim,
                                               threshold=7)
    assert notification_deliver(notification_id=notification.pk) is True
    body = mail.outbox[0].body
    assert "we will charge US$8.00" in body and "/n/skip-renewal/" in body


URL = re.compile(r"https?://[^\s\"'<>]+")


def test_every_link_in_every_message_uses_the_portals_address(alice, settings):
    """The worker knows no request: links come from PORTAL_BASE_URL, whatever port the
    portal was started on (`make run PORT=...` passes it to every process)."""
    from accounts.models import User
    from notifications.sms import LocmemBackend

    settings.PORTAL_BASE_URL = "https://portal.example.test:8443"
    User.objects.filter(pk=alice.pk).update(phone="+14155550123",
                                            phone_verified_at=timezone.now())
    alice.refresh_from_db()
    LocmemBackend.outbox.clear()
    ids = [_plan_message(alice, kind, channel=channel, threshold=threshold).pk
           for kind, threshold in (("expiry_reminder", 7), ("data_alert", 90),
                                   ("out_of_data", 0), ("esim_expired", 0))
           for channel in ("email", "sms")]
    ids.append(Notification.objects.create(customer=alice, kind="order_paid", channel="email",
                                           order=OrderFactory(customer=alice)).pk)
    from notifications.services import notifications_deliver

    assert set(notifications_deliver(notification_ids=ids).values()) == {None}
    texts = [text["body"] for text in LocmemBackend.outbox]
    assert len(texts) == 4 and len(mail.outbox) == 5
    for message in mail.outbox:
        texts += [message.body, message.alternatives[0][0],
                  message.extra_headers["List-Unsubscribe"]]
    links = [link for text in texts for link in URL.findall(text)]
    assert len(links) > 20
    assert all(link.startswith("https://portal.example.test:8443/") for link in links), links
