"""A Ticket moves only as support/ticket_states.py allows, and a move it refuses changes
nothing."""

from datetime import timedelta

import pytest
import time_machine
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from portal.states import TransitionNotAllowed
from support import services
from support.models import Ticket
from support.ticket_states import TICKET
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

S = Ticket.Status


@pytest.fixture
def agent():
    return UserFactory(email="agent@example.com", is_staff=True, is_superuser=True)


@pytest.fixture
def ticket(alice):
    return services.ticket_open(customer=alice, subject="Hotspot", body="Can I share data?")


def closed(ticket) -> Ticket:
    assert services.tickets_close(tickets=Ticket.objects.filter(pk=ticket.pk)) == 1
    return Ticket.objects.get(pk=ticket.pk)


def test_the_table():
    assert TICKET.initial == (S.OPEN,)
    assert TICKET.sources(S.ANSWERED) == (S.OPEN, S.ANSWERED, S.CLOSED)
    assert TICKET.sources(S.OPEN) == (S.OPEN, S.ANSWERED)  # never from closed
    assert TICKET.sources(S.CLOSED) == (S.OPEN, S.ANSWERED)


def test_a_conversation_moves_the_ticket_and_stamps_each_move(alice, agent, ticket):
    assert (ticket.status, ticket.answered_at, ticket.closed_at) == (S.OPEN, None, None)
    with time_machine.travel(timezone.now() + timedelta(hours=1), tick=False) as clock:
        services.ticket_reply(ticket=ticket, author=agent, body="Yes.", from_staff=True)
        answered_at = timezone.now()
        stored = Ticket.objects.get(pk=ticket.pk)
        assert stored.status == S.ANSWERED and stored.answered_at == answered_at
        assert (ticket.status, ticket.answered_at) == (S.ANSWERED, answered_at)  # in step

        clock.shift(timedelta(hours=1))
        services.ticket_reply(ticket=ticket, author=alice, body="Thanks!", from_staff=False)
        stored = Ticket.objects.get(pk=ticket.pk)
        assert stored.status == S.OPEN and stored.answered_at == answered_at  # kept
        assert stored.updated_at == answered_at + timedelta(hours=1)

    stored = closed(stored)
    assert stored.status == S.CLOSED and stored.closed_at == stored.updated_at

    # Support writing on a closed ticket opens the conversation again.
    services.ticket_reply(ticket=stored, author=agent, body="One more thing.",
                          from_staff=True)
    stored = Ticket.objects.get(pk=ticket.pk)
    assert stored.status == S.ANSWERED and stored.closed_at is None
    assert stored.messages.count() == 4


def test_a_customer_reply_to_a_closed_ticket_is_refused_and_changes_nothing(alice, ticket):
    before = closed(ticket)
    with pytest.raises(TransitionNotAllowed) as refused:
        services.ticket_reply(ticket=before, author=alice, body="Hello?", from_staff=False)
    assert "is closed: cannot become open" in str(refused.value)
    after = Ticket.objects.get(pk=ticket.pk)
    assert (after.status, after.updated_at, after.closed_at) == (
        S.CLOSED, before.updated_at, before.closed_at)
    assert after.messages.count() == 1


def test_the_customers_page_refuses_a_reply_to_a_closed_ticket(alice_client, ticket):
    closed(ticket)
    url = reverse("support:ticket", args=[ticket.pk])
    page = alice_client.post(url, {"body": "Hello?"}, follow=True).content.decode()
    assert "This question is closed." in page
    assert Ticket.objects.get(pk=ticket.pk).status == S.CLOSED
    assert ticket.messages.count() == 1


def test_closing_takes_what_it_can(alice, agent):
    open_one = services.ticket_open(customer=alice, subject="A", body="a")
    answered = services.ticket_open(customer=alice, subject="B", body="b")
    services.ticket_reply(ticket=answered, author=agent, body="b!", from_staff=True)
    closed_already = closed(services.ticket_open(customer=alice, subject="C", body="c"))
    assert services.tickets_close(tickets=Ticket.objects.all()) == 2
    assert set(Ticket.objects.values_list("status", flat=True)) == {S.CLOSED}
    assert Ticket.objects.get(pk=closed_already.pk).closed_at == closed_already.closed_at
    assert Ticket.objects.get(pk=open_one.pk).closed_at is not None


def test_support_closes_from_the_list_and_cannot_set_a_status_by_hand(alice, agent, ticket):
    staff = Client()
    staff.force_login(agent)
    page = staff.get(reverse("admin:support_ticket_change", args=[ticket.pk])).content.decode()
    assert 'name="status"' not in page
    staff.post(reverse("admin:support_ticket_change", args=[ticket.pk]), {
        "status": "closed",
        "messages-TOTAL_FORMS": "1", "messages-INITIAL_FORMS": "1",
        "messages-MIN_NUM_FORMS": "0", "messages-MAX_NUM_FORMS": "1000",
        "messages-0-id": ticket.messages.get().pk, "messages-0-ticket": ticket.pk,
        "_save": "Save"})
    assert Ticket.objects.get(pk=ticket.pk).status == S.OPEN

    response = staff.post(reverse("admin:support_ticket_changelist"), {
        "action": "close_tickets", "_selected_action": [ticket.pk]}, follow=True)
    assert "1 ticket closed." in response.content.decode()
    assert Ticket.objects.get(pk=ticket.pk).status == S.CLOSED


@pytest.mark.parametrize("fields", [
    {"status": S.CLOSED},  # closed without saying when
    {"closed_at": timezone.now()},  # open with a closing time
    {"status": S.ANSWERED},  # answered without saying when
])
def test_the_database_holds_status_and_timestamps_together(ticket, fields):
    with pytest.raises(IntegrityError), transaction.atomic():
        Ticket.objects.filter(pk=ticket.pk).update(**fields)
