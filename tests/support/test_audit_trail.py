"""The audit trail (portal/audit.py): every move of a state machine and every save of an
order, eSIM, bundle or ticket leaves an entry with who and when, in the transaction of
the change; the usage feed leaves none; the admin shows the history."""

import threading
from datetime import timedelta

import pytest
import time_machine
from auditlog.context import set_actor
from auditlog.models import LogEntry
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from billing.models import Order
from billing.order_states import (
    order_fail,
    order_mark_refunded,
    orders_activation_begin,
    orders_complete,
)
from esims.bundle_states import bundle_mark_revoked
from esims.models import Bundle, ESim
from esims.services import esim_rename, esims_poll_carrier
from portal.audit import audit_entries_for, entry_changes
from portal.states import TransitionNotAllowed
from support import services as support_services
from support.models import Ticket
from support.roles import SUPPORT_AGENT, roles_sync
from support.ticket_states import ticket_mark_open
from tests.esims.test_usage_feed import running_esims
from tests.factories import BundleFactory, OrderFactory, UserFactory

pytestmark = pytest.mark.django_db

OS = Order.Status


def entries(obj) -> list[LogEntry]:
    """The changes recorded of `obj` (its creation is recorded too, and left out)."""
    return list(LogEntry.objects.get_for_object(obj).filter(action=LogEntry.Action.UPDATE)
                .order_by("timestamp", "pk"))


@pytest.fixture
def agent():
    """A support agent as the desk has them: staff, in the group, not a superuser."""
    roles_sync()
    user = UserFactory(email="agent@example.com", is_staff=True)
    user.groups.add(Group.objects.get(name=SUPPORT_AGENT))
    return user


def test_a_move_by_a_worker_is_recorded_with_when_and_no_actor(alice):
    order = OrderFactory(customer=alice, status=OS.PAID)
    moment = timezone.now().replace(microsecond=0) + timedelta(minutes=5)
    with time_machine.travel(moment, tick=False):
        assert orders_activation_begin(order_ids=[order.pk], at=moment) == 1

    [entry] = entries(order)
    assert entry.action == LogEntry.Action.UPDATE and entry.actor is None
    assert entry.timestamp == moment and entry.object_repr == order.number
    assert entry.changes["status"] == ["paid", "activating"]
    # A value the database computed (Coalesce, F() + 1) is read back for the history.
    assert entry.changes["activation_attempts"] == ["0", "1"]
    assert "activation_started_at" in entry.changes
    # The activation sweep's claim is bookkeeping, not history.
    assert "activation_attempted_at" not in entry.changes
    shown = {change.field: change for change in entry_changes(entry)}
    assert (shown["status"].old, shown["status"].new) == ("Paid", "Activating at the carrier")
    assert shown["activation_started_at"].new == moment


def test_a_move_made_for_someone_records_them(alice, agent):
    order = OrderFactory(customer=alice, status=OS.ACTIVATING)
    with set_actor(agent):
        orders_complete(order_ids=[order.pk], at=timezone.now())
    [entry] = entries(order)
    assert entry.actor == agent and entry.actor_email == agent.email
    assert entry.changes["status"] == ["activating", "completed"]


def test_a_move_that_stays_in_its_state_still_shows(alice):
    """open → open (the customer wrote again): the move is the event."""
    ticket = support_services.ticket_open(customer=alice, subject="Roaming", body="Hi")
    ticket_mark_open(ticket_id=ticket.pk, at=timezone.now())
    [entry] = entries(ticket)
    assert entry.changes == {"status": ["open", "open"]}  # updated_at is not history


def test_a_batch_records_only_the_rows_it_moved_in_a_fixed_number_of_statements(
        alice, django_assert_num_queries):
    movable = [OrderFactory(customer=alice, status=OS.ACTIVATING) for _ in range(30)]
    elsewhere = OrderFactory(customer=alice, status=OS.REFUNDED)
    with django_assert_num_queries(3):  # lock, update, one INSERT for the 30 entries
        assert orders_complete(order_ids=[o.pk for o in [*movable, elsewhere]],
                               at=timezone.now()) == 30
    assert sum(len(entries(order)) for order in movable) == 30
    assert entries(elsewhere) == []


def test_a_move_refused_or_repeated_records_nothing_more(alice):
    order = OrderFactory(customer=alice, status=OS.COMPLETED)
    with pytest.raises(TransitionNotAllowed):
        order_fail(order_id=order.pk, reason="no", at=timezone.now())
    assert entries(order) == []
    ticket = support_services.ticket_open(customer=alice, subject="A", body="a")
    before = len(entries(ticket))
    assert support_services.tickets_close(tickets=Ticket.objects.filter(pk=ticket.pk)) == 1
    assert support_services.tickets_close(tickets=Ticket.objects.filter(pk=ticket.pk)) == 0
    assert len(entries(ticket)) == before + 1


def test_a_distinct_query_as_admin_lists_give_moves_and_records_once(alice):
    tickets = [support_services.ticket_open(customer=alice, subject=s, body=s) for s in "AB"]
    both = Ticket.objects.filter(messages__body__in=["A", "B", "x"]).distinct()
    assert support_services.tickets_close(tickets=both) == 2
    assert [len(entries(ticket)) for ticket in tickets] == [1, 1]


def test_an_entry_is_written_with_its_change_or_not_at_all(alice):
    order = OrderFactory(customer=alice, status=OS.ACTIVATING)
    with pytest.raises(RuntimeError), transaction.atomic():
        orders_complete(order_ids=[order.pk], at=timezone.now())
        raise RuntimeError("rolled back")
    assert Order.objects.get(pk=order.pk).status == OS.ACTIVATING
    assert entries(order) == []


@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_for_the_same_rows_move_and_record_each_once():
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    customer = UserFactory()
    orders = [OrderFactory(customer=customer, status=OS.ACTIVATING) for _ in range(20)]
    ids = [o.pk for o in orders]
    barrier = threading.Barrier(2)
    moved = []

    def worker():
        try:
            barrier.wait()
            moved.append(orders_complete(order_ids=ids, at=timezone.now()))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(moved) == [0, 20]
    assert LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Order), object_id__in=ids,
        action=LogEntry.Action.UPDATE).count() == 20


def test_a_save_is_recorded_with_who_and_when(alice):
    bundle = BundleFactory(esim__owner=alice, esim__nickname="Phone")
    esim = bundle.esim
    with set_actor(alice):
        esim_rename(esim=esim, nickname="Mum's iPad")
    [entry] = entries(esim)
    assert entry.actor == alice and entry.changes == {"nickname": ["Phone", "Mum's iPad"]}
    assert entry.timestamp <= timezone.now()


def test_usage_feed_updates_leave_no_entry(alice):
    bundle = BundleFactory(esim__owner=alice)
    esim = bundle.esim
    before = LogEntry.objects.count()
    bundle.data_used_bytes += 1024
    bundle.usage_reported_at = bundle.carrier_said_at = timezone.now()
    bundle.save(update_fields=["data_used_bytes", "usage_reported_at", "carrier_said_at"])
    esim.synced_at = timezone.now()
    esim.save(update_fields=["synced_at"])
    assert LogEntry.objects.count() == before


def test_the_carrier_poll_records_the_start_of_a_plan_but_not_its_usage(carrier):
    [esim] = running_esims(carrier, 1)
    esims_poll_carrier(esim_ids=[esim.pk])  # the plan queued at the carrier started
    bundle = Bundle.objects.get(esim=esim)
    assert bundle.state == Bundle.State.ACTIVE
    assert any(e.changes.get("state") == ["queued", "active"] for e in entries(bundle))
    recorded = LogEntry.objects.count()

    carrier.configure(usage_bytes_per_second=100_000)
    carrier.tick(advance_seconds=60)
    esims_poll_carrier(esim_ids=[esim.pk])
    assert Bundle.objects.get(pk=bundle.pk).data_used_bytes > bundle.data_used_bytes
    assert ESim.objects.get(pk=esim.pk).synced_at is not None
    assert LogEntry.objects.count() == recorded


def test_a_staff_action_in_the_admin_records_the_staff_member(alice, agent):
    ticket = support_services.ticket_open(customer=alice, subject="Refund?", body="Please")
    staff = Client()
    staff.force_login(agent)
    staff.post(reverse("admin:support_ticket_changelist"),
               {"action": "close_tickets", "_selected_action": [ticket.pk]})
    assert Ticket.objects.get(pk=ticket.pk).status == Ticket.Status.CLOSED
    [entry] = entries(ticket)
    assert entry.actor == agent and entry.changes["status"] == ["open", "closed"]

    # The ticket's page shows its history, with who and when.
    page = staff.get(reverse("admin:support_ticket_change", args=[ticket.pk]))
    content = page.content.decode()
    assert page.status_code == 200
    assert "agent@example.com" in content and "Closed" in content
    assert reverse("admin:support_ticket_auditlog", args=[ticket.pk]) in content
    full = staff.get(reverse("admin:support_ticket_auditlog", args=[ticket.pk]))
    assert full.status_code == 200 and "agent@example.com" in full.content.decode()


@pytest.mark.parametrize("name", ["billing_order", "esims_esim", "esims_bundle"])
def test_each_audited_admin_page_shows_its_history(alice, agent, name):
    bundle = BundleFactory(esim__owner=alice)
    obj = {"billing_order": bundle.order, "esims_esim": bundle.esim,
           "esims_bundle": bundle}[name]
    with set_actor(agent):
        with transaction.atomic():
            order_mark_refunded(order=Order.objects.select_for_update().get(
                pk=bundle.order_id), at=timezone.now())
        esim_rename(esim=bundle.esim, nickname="Renamed")
        bundle_mark_revoked(bundle_id=bundle.pk)
    staff = Client()
    staff.force_login(agent)
    content = staff.get(reverse(f"admin:{name}_change", args=[obj.pk])).content.decode()
    assert "agent@example.com" in content
    assert reverse(f"admin:{name}_auditlog", args=[obj.pk]) in content


def test_the_selector_gives_several_objects_history_in_time_order(alice):
    start = timezone.now()
    bundle = BundleFactory(esim__owner=alice, esim__nickname="Phone")
    other = BundleFactory()
    with time_machine.travel(start + timedelta(minutes=1), tick=False):
        esim_rename(esim=bundle.esim, nickname="First")
    with time_machine.travel(start + timedelta(minutes=3), tick=False):
        bundle_mark_revoked(bundle_id=bundle.pk)
        bundle_mark_revoked(bundle_id=other.pk)
    with time_machine.travel(start + timedelta(minutes=2), tick=False):
        esim_rename(esim=bundle.esim, nickname="Second")

    found = list(audit_entries_for([bundle.esim, bundle, bundle.order]))
    updates = [e for e in found if e.action == LogEntry.Action.UPDATE]
    assert [e.changes.get("nickname", e.changes.get("state")) for e in updates] == [
        ["Phone", "First"], ["First", "Second"], ["active", "revoked"]]
    assert [e.timestamp for e in found] == sorted(e.timestamp for e in found)
    assert all(e.object_id != other.pk or e.content_type.model != "bundle" for e in found)
    assert list(audit_entries_for([])) == []


def test_the_customer_switching_auto_renewal_is_recorded_with_who(alice):
    """The customer's own switch is a change of the eSIM like any other: on and off each
    leave an entry naming them."""
    from renewals import services as renewals
    from tests.factories import auto_renewing_esim

    esim = auto_renewing_esim(alice)
    ESim.objects.filter(pk=esim.pk).update(auto_renew=False)
    made = LogEntry.objects.get_for_object(esim).count()  # the factory's own saves
    with set_actor(alice):
        renewals.auto_renew_switch_on(esim=esim, plan=esim.renewal_plan,
                                      card=esim.renewal_payment_method)
        renewals.auto_renew_switch_off(esim=esim)
    on, off = LogEntry.objects.get_for_object(esim).order_by("pk")[made:]
    assert on.changes_dict["auto_renew"] == ["False", "True"] and on.actor == alice
    assert off.changes_dict["auto_renew"] == ["True", "False"] and off.actor == alice
