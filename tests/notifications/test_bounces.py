"""An address that bounced or was refused for good takes no more email: the provider's
webhook (behind basic auth, hostile bodies answered 400) or the mail server's 5xx marks
it, and the emails waiting for it end as failed."""

import base64
import json
import smtplib

import pytest
from django.core import mail
from django.utils import timezone

from accounts.models import User
from notifications.bounces import email_address_undeliverable
from notifications.models import Notification
from notifications.services import DeliveryError, notification_deliver
from tests.factories import OrderFactory

pytestmark = pytest.mark.django_db

URL = "/webhooks/email/postmark/tracking/"
SECRET = "postmark:s3cret-hook-password"


@pytest.fixture
def hook(settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": SECRET}


def _auth(secret=SECRET):
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(secret.encode()).decode()}


def _bounce(email, type_="HardBounce"):
    return {"RecordType": "Bounce", "Type": type_, "ID": 42, "Email": email,
            "Description": "The server was unable to deliver your message",
            "Details": "smtp;550 5.1.1 no such user", "BouncedAt": "2026-03-10T10:00:00Z",
            "MessageID": "b7bc2f4a-e38e-4336-af7d-e6c392c2f817"}


def _waiting(customer, channel="email"):
    return Notification.objects.create(customer=customer, kind="order_paid", channel=channel,
                                       order=OrderFactory(customer=customer))


def test_a_hard_bounce_marks_the_address_and_ends_its_waiting_emails(client, hook, alice,
                                                                     bob):
    waiting, bobs = _waiting(alice), _waiting(bob)
    response = client.post(URL, json.dumps(_bounce("ALICE@Example.com")),
                           content_type="application/json", **_auth())
    assert response.status_code == 200
    alice.refresh_from_db()
    assert alice.email_undeliverable_at is not None
    assert alice.email_undeliverable_reason.startswith("Postmark bounced")
    waiting.refresh_from_db()
    assert waiting.status == Notification.Status.FAILED
    assert waiting.attempts.get().succeeded is False
    bobs.refresh_from_db()
    assert bobs.status == Notification.Status.PENDING  # nobody else's mail
    first = alice.email_undeliverable_at
    client.post(URL, json.dumps(_bounce("alice@example.com")),  # the provider repeats it
                content_type="application/json", **_auth())
    alice.refresh_from_db()
    assert alice.email_undeliverable_at == first
    assert mail.outbox == []


def test_a_temporary_failure_marks_nothing(client, hook, alice):
    response = client.post(URL, json.dumps(_bounce("alice@example.com", "Transient")),
                           content_type="application/json", **_auth())
    assert response.status_code == 200
    alice.refresh_from_db()
    assert alice.email_undeliverable_at is None


@pytest.mark.parametrize("headers", [{}, _auth("postmark:wrong")])
def test_the_webhook_needs_its_secret(client, hook, alice, headers):
    response = client.post(URL, json.dumps(_bounce("alice@example.com")),
                           content_type="application/json", **headers)
    assert response.status_code in (400, 401, 403)
    alice.refresh_from_db()
    assert alice.email_undeliverable_at is None


def test_without_a_configured_secret_the_webhook_believes_nobody(client, alice):
    """Anymail alone would take unauthenticated events (with a warning); settings give
    it a secret nobody knows instead."""
    response = client.post(URL, json.dumps(_bounce("alice@example.com")),
                           content_type="application/json", **_auth("postmark:"))
    assert response.status_code in (400, 401, 403)
    alice.refresh_from_db()
    assert alice.email_undeliverable_at is None


@pytest.mark.parametrize("body,status", [
    (b"{not json", 400), (b"[1, 2]", 400), (b'"a string"', 400), (b"\xff\xfe", 400),
    (json.dumps({"RecordType": ["Bounce"]}).encode(), 400),
    # Readable, but no address to mark: taken and ignored.
    (json.dumps({"RecordType": "Bounce", "Type": 5, "Email": ["x"]}).encode(), 200)])
def test_hostile_bodies_are_refused_not_a_server_error(client, hook, alice, body, status):
    response = client.post(URL, body, content_type="application/json", **_auth())
    assert response.status_code == status
    alice.refresh_from_db()
    assert alice.email_undeliverable_at is None


def test_a_permanent_smtp_refusal_marks_the_address(alice, monkeypatch):
    first, second = _waiting(alice), _waiting(alice)
    texted = _waiting(alice, channel="sms")

    def refused(*args, **kwargs):
        raise smtplib.SMTPRecipientsRefused({alice.email: (550, b"5.1.1 no such user")})

    monkeypatch.setattr("django.core.mail.EmailMultiAlternatives.send", refused)
    with pytest.raises(DeliveryError) as caught:
        notification_deliver(notification_id=first.pk)
    assert caught.value.retryable is False
    alice.refresh_from_db()
    assert alice.email_undeliverable_at is not None and "550" in alice.email_undeliverable_reason
    for notification in (first, second):
        notification.refresh_from_db()
        assert notification.status == Notification.Status.FAILED
    texted.refresh_from_db()
    assert texted.status == Notification.Status.PENDING  # texts still go


def test_a_temporary_smtp_refusal_is_retried(alice, monkeypatch):
    notification = _waiting(alice)

    def greylisted(*args, **kwargs):
        raise smtplib.SMTPRecipientsRefused({alice.email: (451, b"4.7.1 try later")})

    monkeypatch.setattr("django.core.mail.EmailMultiAlternatives.send", greylisted)
    with pytest.raises(DeliveryError) as caught:
        notification_deliver(notification_id=notification.pk)
    assert caught.value.retryable is True
    notification.refresh_from_db()
    alice.refresh_from_db()
    assert notification.status == Notification.Status.PENDING
    assert alice.email_undeliverable_at is None


def test_a_message_to_an_undeliverable_address_fails_at_once(alice):
    notification = _waiting(alice)
    User.objects.filter(pk=alice.pk).update(email_undeliverable_at=timezone.now(),
                                            email_undeliverable_reason="bounced")
    with pytest.raises(DeliveryError):
        notification_deliver(notification_id=notification.pk)
    notification.refresh_from_db()
    assert notification.status == Notification.Status.FAILED and mail.outbox == []


def test_marking_an_unknown_or_empty_address_changes_nothing(alice):
    assert email_address_undeliverable(email="nobody@example.com", reason="x") == 0
    assert email_address_undeliverable(email="  ", reason="x") == 0
    alice.refresh_from_db()
    assert alice.email_undeliverable_at is None


def _postmark_answers(monkeypatch, status, body):
    """Email through Postmark by settings alone; its API answers `status` and `body`."""
    import requests

    def request(self, method, url, **kwargs):
        response = requests.Response()
        response.status_code, response._content = status, json.dumps(body).encode()
        response.url, response.encoding = url, "utf-8"
        response.headers["Content-Type"] = "application/json"
        return response

    monkeypatch.setattr(requests.Session, "request", request)


@pytest.fixture
def postmark(settings):
    settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    settings.ANYMAIL = {**settings.ANYMAIL, "POSTMARK_SERVER_TOKEN": "server-token"}


def test_a_provider_refusing_the_recipient_marks_the_address(alice, postmark, monkeypatch):
    _postmark_answers(monkeypatch, 422, {
        "ErrorCode": 406, "Message": "You tried to send to a recipient that has been marked"
        " as inactive.\nFound inactive addresses: alice@example.com.\nInactive recipients"
        " are ones that have generated a hard bounce or a spam complaint."})
    notification = _waiting(alice)
    with pytest.raises(DeliveryError) as caught:
        notification_deliver(notification_id=notification.pk)
    assert caught.value.retryable is False
    alice.refresh_from_db()
    assert alice.email_undeliverable_at is not None


def test_a_provider_in_trouble_is_tried_again(alice, postmark, monkeypatch):
    _postmark_answers(monkeypatch, 503, {"ErrorCode": 100, "Message": "maintenance"})
    notification = _waiting(alice)
    with pytest.raises(DeliveryError) as caught:
        notification_deliver(notification_id=notification.pk)
    assert caught.value.retryable is True
    notification.refresh_from_db()
    assert notification.status == Notification.Status.PENDING


def test_a_provider_accepting_the_message_sends_it_once(alice, postmark, monkeypatch):
    _postmark_answers(monkeypatch, 200, {"ErrorCode": 0, "Message": "OK",
                                         "MessageID": "0a129aee-e1cd-480d-b08d-4f48548ff48d",
                                         "To": "alice@example.com"})
    notification = _waiting(alice)
    assert notification_deliver(notification_id=notification.pk) is True
    notification.refresh_from_db()
    assert notification.status == Notification.Status.SENT


def test_confirming_the_address_again_lifts_the_mark_and_the_page_says_why(alice_client,
                                                                           alice):
    """The notifications page says emails stopped and where to fix it; confirming the
    address again (allauth's link) makes it deliverable again."""
    from allauth.account.models import EmailAddress
    from allauth.account.signals import email_confirmed

    from notifications.bounces import email_address_undeliverable

    email_address_undeliverable(email=alice.email, reason="postmark bounced: mailbox full")
    page = alice_client.get("/account/notifications/").content.decode()
    assert 'id="email-undeliverable"' in page and "/accounts/email/" in page
    address, _ = EmailAddress.objects.get_or_create(user=alice, email=alice.email,
                                                    defaults={"verified": True})
    email_confirmed.send(sender=EmailAddress, request=None, email_address=address)
    alice.refresh_from_db()
    assert alice.email_undeliverable_at is None and alice.email_undeliverable_reason == ""
    assert 'id="email-undeliverable"' not in alice_client.get(
        "/account/notifications/").content.decode()
