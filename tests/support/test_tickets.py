import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from billing.models import Order
from support.models import Ticket
from tests.factories import ESimFactory, OrderFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def slow_order(alice):
    return OrderFactory(customer=alice, status=Order.Status.ACTIVATING,
                        paid_at=timezone.now() - timezone.timedelta(hours=1),
                        esim=ESimFactory(owner=alice, iccid=None))


def test_a_slow_order_offers_a_ticket_in_one_click(alice_client, slow_order):
    progress = alice_client.get(reverse("billing:order_progress", args=[slow_order.number]))
    assert "Ask support about this order" in progress.content.decode()
    url = reverse("support:ticket_about_order", args=[slow_order.number])
    first = alice_client.post(url)
    second = alice_client.post(url)  # a double click
    ticket = Ticket.objects.get()
    assert first["Location"] == second["Location"] == reverse("support:ticket", args=[ticket.pk])
    assert ticket.order == slow_order and ticket.esim == slow_order.esim
    page = alice_client.get(first["Location"]).content.decode()
    assert slow_order.number in page and "has not been activated yet" in page


def test_support_answers_in_admin_and_the_customer_replies(alice_client, slow_order):
    alice_client.post(reverse("support:ticket_about_order", args=[slow_order.number]))
    ticket = Ticket.objects.get()
    agent = Client()
    agent.force_login(UserFactory(email="agent@example.com", is_staff=True, is_superuser=True))
    agent.post(reverse("admin:support_ticket_reply", args=[ticket.pk]), {
        "body": "We are on it: the carrier is slow today.", "reason": "Slow activation",
        "since_message": ticket.messages.get().pk})
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.ANSWERED
    reply = ticket.messages.get(from_staff=True)
    assert reply.author.email == "agent@example.com"
    page = alice_client.get(reverse("support:ticket", args=[ticket.pk])).content.decode()
    assert "the carrier is slow today" in page

    alice_client.post(reverse("support:ticket", args=[ticket.pk]), {"body": "Thanks!"})
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.OPEN and ticket.messages.count() == 3


def test_an_empty_question_or_reply_changes_nothing(alice_client, alice):
    response = alice_client.post(reverse("support:ticket_new"), {"subject": " ", "body": ""})
    assert response.status_code == 200 and not Ticket.objects.exists()
    alice_client.post(reverse("support:ticket_new"), {"subject": "Hotspot", "body": "Works?"})
    ticket = Ticket.objects.get()
    alice_client.post(reverse("support:ticket", args=[ticket.pk]), {"body": "   "})
    assert ticket.messages.count() == 1


def test_another_customers_ticket_and_order_are_404(client, alice, bob, slow_order):
    ticket = Ticket.objects.create(customer=alice, subject="Mine")
    client.force_login(bob)
    assert client.get(reverse("support:ticket", args=[ticket.pk])).status_code == 404
    assert client.post(reverse("support:ticket", args=[ticket.pk]),
                       {"body": "hi"}).status_code == 404
    assert client.post(reverse("support:ticket_about_order",
                               args=[slow_order.number])).status_code == 404
    assert "Mine" not in client.get(reverse("support:tickets")).content.decode()


def test_the_customer_is_emailed_when_support_replies(alice, django_capture_on_commit_callbacks):
    from django.core import mail

    from notifications.models import Notification
    from support.services import ticket_open, ticket_reply

    ticket = ticket_open(customer=alice, subject="Hotspot", body="Can I share data?")
    ticket_reply(ticket=ticket, author=alice, body="Also: tethering?", from_staff=False)
    agent = UserFactory(email="agent@example.com", is_staff=True)
    with django_capture_on_commit_callbacks(execute=True):
        ticket_reply(ticket=ticket, author=agent, body="Yes, hotspot is allowed.",
                     from_staff=True)
    assert Notification.objects.get().kind == "support_replied"  # not for her own message
    message = mail.outbox[-1]
    assert message.to == ["alice@example.com"] and "Hotspot" in message.subject
    assert "hotspot is allowed" in message.body and f"/support/{ticket.pk}/" in message.body
