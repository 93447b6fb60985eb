"""The story pages: one page per customer and per eSIM with everything that happened, in
time order, in the staff member's time zone, at a bounded cost however long the history."""

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from billing.models import Order, Payment
from billing.receipts import receipts_issue
from carrier.models import CarrierEvent
from esims.models import Bundle
from notifications.models import DeliveryAttempt, Notification
from support import story
from support.models import StaffAction, Ticket, TicketMessage
from tests.factories import BundleFactory, ESimFactory, OrderFactory, UserFactory

pytestmark = pytest.mark.django_db

PERMISSIONS = {
    "accounts": ["view_user"],
    "esims": ["view_esim", "change_esim", "view_bundle"],
    "billing": ["view_order", "change_order", "view_receipt", "view_creditnote"],
    "support": ["view_ticket", "change_ticket", "view_staffaction"],
    "notifications": ["view_notification"],
    "carrier": ["view_carrierevent"],
}


def agent_with(permissions=PERMISSIONS, **fields):
    """A support agent: staff, not a superuser, with only these permissions."""
    agent = UserFactory(email=f"agent-{uuid.uuid4().hex[:6]}@example.com", is_staff=True,
                        **fields)
    for app, codenames in permissions.items():
        agent.user_permissions.add(*Permission.objects.filter(
            content_type__app_label=app, codename__in=codenames))
    return agent


@pytest.fixture
def agent(db):
    return agent_with(time_zone="Asia/Shanghai")


@pytest.fixture
def agent_client(agent):
    client = Client()
    client.force_login(agent)
    return client


def customer_story_url(customer):
    return reverse("admin:esims_customer_story", args=[customer.pk])


def esim_story_url(esim):
    return reverse("admin:esims_esim_story", args=[esim.pk])


T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def at(minutes):
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
def history(alice, agent):
    """Alice's eSIM with one of everything, each at its own minute after T0."""
    with time_machine.travel(at(0), tick=False) as clock:
        esim = ESimFactory(owner=alice, nickname="Alice phone", state="installed")
        order = OrderFactory(customer=alice, esim=esim, kind=Order.Kind.NEW_ESIM,
                             status=Order.Status.COMPLETED, amount_minor=1800,
                             currency="CNY", paid_at=at(1), completed_at=at(3),
                             activation_started_at=at(2))
        Payment.objects.create(order=order, gateway="simulated", gateway_reference="ch_1",
                               amount_minor=1800, currency="CNY", status="failed",
                               failure_code="card_declined", failure_message="Declined",
                               created_at=at(0.5))
        paid = Payment.objects.create(order=order, gateway="simulated",
                                      gateway_reference="ch_2", amount_minor=1800,
                                      currency="CNY", status="succeeded", created_at=at(0.8))
        clock.move_to(at(1))
        receipts_issue(paid=[(order, paid)])
        bundle = BundleFactory(esim=esim, order=order, data_allowance_bytes=3 * 1024 ** 3,
                               data_used_bytes=1536 * 1024 ** 2, created_at=at(1),
                               applied_at=at(3), starts_at=at(4), ends_at=at(4) + timedelta(
                                   days=7), carrier_said_at=at(5))
        notification = Notification.objects.create(
            customer=alice, kind=Notification.Kind.ESIM_READY, channel="email", order=order,
            esim=esim, status=Notification.Status.FAILED, attempt_count=5,
            recipient="alice@example.com", created_at=at(3))
        DeliveryAttempt.objects.create(notification=notification, succeeded=False,
                                       error="550 mailbox full", at=at(3))
        CarrierEvent.objects.create(
            kind=CarrierEvent.Kind.DOWNLOAD_PROGRESS, event_key="k-4", iccid=esim.iccid,
            payload={"iccid": esim.iccid, "notificationPointId": 4,
                     "eid": "89049032000000000000000000000019"}, received_at=at(4))
        CarrierEvent.objects.create(
            kind=CarrierEvent.Kind.USAGE, event_key="u-1", iccid=esim.iccid,
            payload={"type": "usage", "bundle": {"reference": order.number}},
            received_at=at(4.5))  # a usage report: not in the story
        ticket = Ticket.objects.create(customer=alice, esim=esim, subject="No data in Kyoto",
                                       created_at=at(6))
        TicketMessage.objects.create(ticket=ticket, author=alice, created_at=at(6),
                                     body="Nothing works since this morning.")
        StaffAction.objects.create(actor=agent, kind=StaffAction.Kind.EXTEND_VALIDITY,
                                   esim=esim, order=order, note="Outage in Kyoto",
                                   outcome="+2 d", at=at(7))
    return {"esim": esim, "order": order, "bundle": bundle, "ticket": ticket}


def timeline(page: str) -> list[str]:
    """The events' texts, as shown, newest first."""
    part = page.split('id="story-timeline"', 1)[1]
    items = re.findall(r"<li class=\"source-[^\"]*\">(.*?)</li>", part, flags=re.S)
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", item)).strip() for item in items]


def test_the_customer_story_tells_everything_newest_first_in_the_agents_zone(
        agent_client, alice, history):
    alice.phone = "+8613800138000"
    alice.time_zone, alice.language = "Asia/Tokyo", "zh-hans"
    alice.save()
    response = agent_client.get(customer_story_url(alice))
    assert response.status_code == 200
    page = response.content.decode()
    # Who they are, and their eSIMs now.
    for fact in ("alice@example.com", "+8613800138000", "Asia/Tokyo", "Simplified Chinese",
                 "Alice phone", "Installed", history["esim"].iccid):
        assert fact in page, fact
    assert "1.50 GB left of 3.00 GB" in page
    events = timeline(page)
    order = history["order"]
    # Times in the agent's zone (Shanghai, UTC+8).
    expected = [
        ("1 Mar 2026, 17:07", "Extend validity by agent-"),
        ("1 Mar 2026, 17:06", "Ticket #"),
        ("1 Mar 2026, 17:04", "SM-DP+ (ICCID"),
        ("1 Mar 2026, 17:04", "Plan " + history["bundle"].plan_name + " started"),
        ("1 Mar 2026, 17:03", f"Order {order.number} completed"),
        ("1 Mar 2026, 17:03",
         "Message “eSIM ready to install” by Email (alice@example.com): Failed"),
        ("1 Mar 2026, 17:02", f"Order {order.number}: activation at the carrier began"),
        ("1 Mar 2026, 17:01", f"Order {order.number} paid"),
        ("1 Mar 2026, 17:01", "Receipt R-2026-"),
        ("1 Mar 2026, 17:00", "Payment of CN¥18.00 for " + order.number),
        ("1 Mar 2026, 17:00", f"Order {order.number} placed: New eSIM"),
    ]
    for when, text in expected:
        assert any(event.startswith(when) and text in event for event in events), (when, text)
    times = [datetime.strptime(event[:17], "%d %b %Y, %H:%M") for event in events
             if re.match(r"\d+ \w+ \d{4}, \d\d:\d\d", event)]
    assert times == sorted(times, reverse=True)
    assert any("550 mailbox full" in event for event in events)
    assert any("card_declined: Declined" in event for event in events)
    assert any("reason: Outage in Kyoto" in event for event in events)
    assert any("Nothing works since this morning." in event for event in events)
    assert any("created by" in event for event in events)  # the audit trail
    assert not any("plan " + order.number + " is" in event for event in events)  # usage feed
    assert "Times in Asia/Shanghai" in page


def test_the_esim_story_is_only_that_esims(agent_client, alice, history):
    other = BundleFactory(esim__owner=alice, esim__nickname="Alice tablet")
    page = agent_client.get(esim_story_url(history["esim"])).content.decode()
    assert history["order"].number in page and "No data in Kyoto" in page
    assert other.order.number not in page and "Alice tablet" not in page
    assert customer_story_url(alice) in page
    assert other.order.number in agent_client.get(customer_story_url(alice)).content.decode()


def test_the_events_link_to_what_the_agent_may_see(client, alice, history):
    client.force_login(agent_with({"accounts": ["view_user"], "esims": ["view_esim"]}))
    page = client.get(customer_story_url(alice)).content.decode()
    assert reverse("admin:esims_esim_change", args=[history["esim"].pk]) in page
    assert reverse("admin:billing_order_change", args=[history["order"].pk]) not in page
    assert history["order"].number in page  # the event is told, without its link
    assert "Extend validity" not in page.split('id="story-timeline"')[0]  # no change right


def test_the_story_is_reached_from_the_customer_the_esim_and_search(agent_client, alice,
                                                                     history):
    esim = history["esim"]
    assert customer_story_url(alice) in agent_client.get(reverse(
        "admin:accounts_user_change", args=[alice.pk])).content.decode()
    esim_page = agent_client.get(reverse("admin:esims_esim_change",
                                         args=[esim.pk])).content.decode()
    assert esim_story_url(esim) in esim_page and customer_story_url(alice) in esim_page
    found = agent_client.get(reverse("admin:esims_esim_changelist"),
                             {"q": "alice@example.com"}).content.decode()
    assert esim_story_url(esim) in found and customer_story_url(alice) in found
    order_page = agent_client.get(reverse("admin:billing_order_change",
                                          args=[history["order"].pk])).content.decode()
    assert customer_story_url(alice) in order_page and esim_story_url(esim) in order_page


def grow(customer, esim, agent, n, *, start, spread=False):
    """n more of everything on the eSIM, an hour apart: orders with payments, plans and
    receipts, messages, tickets with messages, carrier reports, staff actions. With
    `spread`, time runs while they are made (no two rows at the same moment)."""
    for i in range(n):
        with time_machine.travel(start + timedelta(hours=i), tick=spread):
            order = OrderFactory(customer=customer, esim=esim, kind=Order.Kind.RENEWAL,
                                 status=Order.Status.COMPLETED)
            paid = Payment.objects.create(order=order, gateway="simulated", amount_minor=800,
                                          currency="USD", status="succeeded",
                                          gateway_reference=f"ch_{uuid.uuid4().hex}")
            receipts_issue(paid=[(order, paid)])
            BundleFactory(esim=esim, order=order, state=Bundle.State.EXPIRED)
            Notification.objects.create(customer=customer, kind="order_paid",
                                        channel="email", order=order, esim=esim)
            ticket = Ticket.objects.create(customer=customer, esim=esim, subject=f"Q{i}")
            TicketMessage.objects.create(ticket=ticket, author=customer, body=f"Question {i}")
            CarrierEvent.objects.create(
                kind=CarrierEvent.Kind.USAGE, event_key=f"s-{uuid.uuid4().hex}",
                iccid=esim.iccid, payload={"type": "bundle_state", "bundle": {
                    "reference": order.number, "state": "expired", "used_bytes": 5,
                    "initial_quantity_bytes": 10}})
            StaffAction.objects.create(actor=agent, kind=StaffAction.Kind.RESEND_INSTALL,
                                       esim=esim, note=f"Lost it {i}")


def test_a_page_costs_the_same_queries_however_long_the_history(
        agent_client, agent, alice, history, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    esim = history["esim"]
    pages = (customer_story_url(alice), esim_story_url(esim))
    with CaptureQueriesContext(connection) as short:
        for url in pages:
            assert agent_client.get(url).status_code == 200
    grow(alice, esim, agent, 40, start=at(60))
    with django_assert_max_num_queries(len(short.captured_queries)):
        for url in pages:
            response = agent_client.get(url)
            assert response.status_code == 200
    page = response.content.decode()
    assert 0 < len(timeline(page)) <= story.STORY_EVENTS
    assert 'id="story-since"' in page  # what is left out is said, with the lists
    assert reverse("admin:billing_order_changelist") + f"?q={esim.iccid}" in page


def test_the_latest_events_are_shown_complete_back_to_the_cut(agent, alice, history):
    """However the sources are cut, every event after `since` is there: an old order
    refunded today is seen today."""
    grow(alice, history["esim"], agent, 12, start=at(60), spread=True)
    with time_machine.travel(at(60 * 24 * 20), tick=False):
        Order.objects.filter(pk=history["order"].pk).update(
            status=Order.Status.REFUNDED, refunded_at=timezone.now())
    everything = story.customer_story(customer=alice, limit=10_000).events
    for limit in (3, 7, 20, 50):
        shown = story.customer_story(customer=alice, limit=limit)
        assert 0 < len(shown.events) <= limit
        assert shown.since is not None
        expected = [event for event in everything if event.at > shown.since]
        assert shown.events == expected, limit
        assert shown.events[0].title == f"Order {history['order'].number} refunded"


def test_who_may_read_a_story(client, alice, history):
    esim_viewer = agent_with({"esims": ["view_esim"]})
    client.force_login(esim_viewer)
    assert client.get(esim_story_url(history["esim"])).status_code == 200
    assert client.get(customer_story_url(alice)).status_code == 403  # no view_user
    client.force_login(agent_with({}))
    assert client.get(esim_story_url(history["esim"])).status_code == 403
    client.force_login(alice)  # a customer
    response = client.get(customer_story_url(alice))
    assert response.status_code == 302 and "login" in response["Location"]
    client.force_login(esim_viewer)
    assert client.get(reverse("admin:esims_esim_story", args=[999999])).status_code == 404
    assert client.get(reverse("admin:esims_customer_story", args=[alice.pk])).status_code == 403


def test_the_story_reads_in_chinese_for_a_chinese_speaking_agent(client, alice, history):
    client.force_login(agent_with(language="zh-hans"))
    page = client.get(customer_story_url(alice)).content.decode()
    assert history["order"].number in page
    assert 'lang="zh-hans"' in page.lower() and "eSIM 服务平台客服台" in page


def test_open_orders_and_tickets_offer_their_actions(agent_client, alice, history):
    Order.objects.filter(pk=history["order"].pk).update(status=Order.Status.FAILED,
                                                        failed_at=timezone.now())
    page = agent_client.get(customer_story_url(alice)).content.decode()
    assert reverse("admin:billing_order_refund", args=[history["order"].pk]) in page
    assert reverse("admin:billing_order_retry", args=[history["order"].pk]) in page
    assert reverse("admin:support_ticket_reply", args=[history["ticket"].pk]) in page
    assert reverse("admin:esims_esim_extend", args=[history["esim"].pk]) in page


