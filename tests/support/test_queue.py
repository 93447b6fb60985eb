"""What needs a human (support/queue.py): the admin's index counts stuck and failed
activations, refused refunds, failed messages and tickets waiting for an answer, each
linked to a list of exactly the rows counted, for staff who may view them."""

import re
from datetime import timedelta
from typing import cast

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from billing.models import Order
from notifications.models import Notification
from support import services as support_services
from support.models import Ticket
from support.roles import CATALOGUE_MANAGER, SUPPORT_AGENT, roles_sync
from tests.factories import OrderFactory, UserFactory

pytestmark = pytest.mark.django_db

OS = Order.Status


def staff(email: str, role: str) -> Client:
    roles_sync()
    user = cast(User, UserFactory(email=email, is_staff=True))
    user.groups.add(Group.objects.get(name=role))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def agent():
    return staff("agent@example.com", SUPPORT_AGENT)


@pytest.fixture
def desk(alice, settings):
    """A day at the desk: of each kind, the rows to count and the rows not to."""
    settings.ACTIVATION_STUCK_MINUTES = 60
    now = timezone.now()
    hours_ago = now - timedelta(hours=2)
    order = OrderFactory
    rows = {
        "stuck": [order(customer=alice, status=OS.PAID, paid_at=hours_ago),
                  order(customer=alice, status=OS.ACTIVATING, paid_at=hours_ago)],
        "not_stuck": [order(customer=alice, status=OS.PAID,
                            paid_at=now - timedelta(minutes=20)),
                      order(customer=alice, status=OS.COMPLETED, paid_at=hours_ago),
                      order(customer=alice, status=OS.PENDING_PAYMENT)],
        "failed": [order(customer=alice, status=OS.FAILED, paid_at=hours_ago)],
        "refund_refused": [order(customer=alice, status=OS.COMPLETED, paid_at=hours_ago,
                                 refund_failed_at=now, refund_failure="card_expired")],
        "refunded_after_all": [order(customer=alice, status=OS.REFUNDED, paid_at=hours_ago,
                                     refund_failed_at=now - timedelta(hours=1))],
    }
    rows["messages"] = [Notification.objects.create(
        customer=alice, kind="order_paid", channel=channel, order=rows["stuck"][0],
        status=Notification.Status.FAILED, attempt_count=5) for channel in ("email", "sms")]
    rows["messages_sent"] = [Notification.objects.create(
        customer=alice, kind="order_paid", channel="email", order=rows["failed"][0],
        status=Notification.Status.SENT, sent_at=now)]
    tickets = [support_services.ticket_open(customer=alice, subject=f"Q{i}", body=f"b{i}")
               for i in range(4)]
    # Waiting since: 3 hours, 1 hour and 2 hours; the fourth was answered.
    for ticket, hours in zip(tickets[:3], (3, 1, 2), strict=True):
        Ticket.objects.filter(pk=ticket.pk).update(updated_at=now - timedelta(hours=hours))
    support_services.ticket_reply(ticket=tickets[3], author=UserFactory(is_staff=True),
                                  body="Done", from_staff=True)
    rows["tickets"] = [tickets[0], tickets[2], tickets[1]]  # longest-waiting first
    rows["answered"] = [tickets[3]]
    return rows


def _queue(content: str) -> str:
    match = re.search(r'<div class="module" id="support-queue">(.*?)</div>', content, re.S)
    return match.group(1) if match else ""


def _links(queue: str) -> dict[str, str]:
    return {text.strip(): href.replace("&amp;", "&")
            for href, text in re.findall(r'<a href="([^"]+)">([^<]+)</a>', queue)}


def _listed(client: Client, url: str, model: str) -> list[int]:
    """The rows of an admin list, in its order, by their change links."""
    content = client.get(url).content.decode()
    return [int(pk) for pk in re.findall(rf'href="/staff/[a-z_]+/{model}/(\d+)/change/', content)]


def test_the_index_counts_each_kind_and_links_to_exactly_those_rows(agent, desk):
    links = _links(_queue(agent.get(reverse("admin:index")).content.decode()))
    expected = {
        "2 activations stuck for more than 60 minutes.": ("order", desk["stuck"]),
        "1 activation failed at the carrier: retry or refund it.": ("order", desk["failed"]),
        "1 refund refused by the gateway or the carrier.": ("order", desk["refund_refused"]),
        "2 messages to customers failed.": ("notification", desk["messages"]),
        "3 tickets waiting for an answer, the longest-waiting first.": (
            "ticket", desk["tickets"]),
    }
    assert set(links) == set(expected)
    for text, (model, rows) in expected.items():
        listed = _listed(agent, links[text], model)
        if model == "ticket":  # in the order they wait
            assert listed == [row.pk for row in rows], text
        else:
            assert sorted(listed) == sorted(row.pk for row in rows), text


def test_the_counts_cost_one_query_each_however_many_rows(agent, desk, alice):
    def count_queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            agent.get(reverse("admin:index"))
        return sum("COUNT(" in query["sql"].upper() for query in captured.captured_queries)

    before = count_queries()
    for _ in range(5):
        OrderFactory(customer=alice, status=OS.FAILED)
    assert count_queries() == before == 5


def test_an_empty_queue_says_none_of_each(agent):
    queue = _queue(agent.get(reverse("admin:index")).content.decode())
    assert "0 activations stuck" in queue and "0 tickets waiting" in queue
    assert 'class="attention"' not in queue


def test_a_catalogue_manager_is_shown_no_customer_counts(desk):
    manager = staff("catalogue@example.com", CATALOGUE_MANAGER)
    content = manager.get(reverse("admin:index")).content.decode()
    assert 'id="support-queue"' not in content
    assert "stuck" not in content and "tickets waiting" not in content


def test_staff_see_only_the_counts_of_what_they_may_view(desk):
    roles_sync()
    user = UserFactory(email="tickets-only@example.com", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_ticket"))
    client = Client()
    client.force_login(user)
    links = _links(_queue(client.get(reverse("admin:index")).content.decode()))
    assert list(links) == ["3 tickets waiting for an answer, the longest-waiting first."]


def test_a_bad_filter_value_lists_every_order_and_breaks_nothing(agent, desk):
    url = reverse("admin:billing_order_changelist")
    for value in ("nonsense", "", "stuck' OR 1=1 --", "%00"):
        response = agent.get(url, {"attention": value})
        assert response.status_code in (200, 302), value
