"""Expiry reminders 30, 7 and 1 days before the end of an eSIM's last paid period
(notifications/reminders.py): due at exactly that moment, whatever the customer's time
zone or a daylight-saving change; a renewal moves them to the new end; a sweep run twice,
two sweeps at once or a crash before commit make each message once."""

import threading
import zoneinfo
from datetime import datetime, timedelta
from typing import cast

import pytest
import time_machine
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from billing.models import Order
from esims.models import Bundle, ESim
from esims.services import bundle_create_for_order
from esims.signals import BundleChange, bundles_changed
from notifications import reminders, tasks
from notifications.models import Notification
from renewals import services as renewal_services
from tests.factories import BundleFactory, OrderFactory, UserFactory, auto_renewing_esim

pytestmark = pytest.mark.django_db

EMAIL, SMS = Notification.Channel.EMAIL, Notification.Channel.SMS
REMINDER = Notification.Kind.EXPIRY_REMINDER
UTC = zoneinfo.ZoneInfo("UTC")


@pytest.fixture(autouse=True)
def _days(settings):
    settings.REMINDER_DAYS = [30, 7, 1]
    settings.SMS_QUIET_HOURS_START, settings.SMS_QUIET_HOURS_END = 21, 8


def customer(time_zone="UTC", phone=True):
    """A customer with a verified mobile number: reminders go by email and SMS."""
    extra = {"phone": "+14155550100", "phone_verified_at": timezone.now()} if phone else {}
    return UserFactory(time_zone=time_zone, **extra)


def told(bundles) -> None:
    """What esims/services.py tells when bundles are made or their period changes."""
    bundles_changed.send(sender=Bundle, changes=[
        BundleChange(bundle=b, used_before=0, state_before=None, period_changed=True,
                     esim_expired=False) for b in bundles])


def running_plan(owner, *, starts_at, days=30) -> Bundle:
    bundle = cast(Bundle, BundleFactory(
        esim__owner=owner, validity_days=days, starts_at=starts_at,
        ends_at=starts_at + timedelta(days=days), created_at=starts_at - timedelta(hours=1)))
    told([bundle])
    return bundle


def renew(esim, *, days=7) -> Bundle:
    """A renewal paid now: a plan waiting behind the running one."""
    bundle = cast(Bundle, BundleFactory(
        esim=esim, order__customer=esim.owner, validity_days=days, state=Bundle.State.QUEUED,
        starts_at=None, ends_at=None, created_at=timezone.now()))
    told([bundle])
    return bundle


def due_at(bundle) -> datetime | None:
    return ESim.objects.get(pk=bundle.esim_id).reminder_due_at


def sent(**filters) -> list[tuple[int, int, str]]:
    """(bundle, days before, channel) of each expiry reminder asked for."""
    return sorted(Notification.objects.filter(kind=REMINDER, **filters)
                  .values_list("bundle_id", "threshold", "channel"))


def sweep_at(at: datetime) -> int:
    with time_machine.travel(at, tick=False):
        return tasks.reminder_sweep()


def test_due_at_exactly_seven_days_before_the_end_not_a_second_before():
    start = timezone.now()
    bundle = running_plan(customer(), starts_at=start)
    end = bundle.ends_at
    # A 30-day plan gets no "30 days left" at its start: the first is 7 days before.
    assert due_at(bundle) == end - timedelta(days=7)

    sweep_at(end - timedelta(days=7, seconds=1))
    assert sent() == []
    sweep_at(end - timedelta(days=7))
    assert sent() == [(bundle.pk, 7, EMAIL), (bundle.pk, 7, SMS)]
    assert due_at(bundle) == end - timedelta(days=1)

    sweep_at(end - timedelta(days=1, seconds=1))  # nothing new before the next moment
    assert len(sent()) == 2
    sweep_at(end - timedelta(days=1))
    assert sent() == [(bundle.pk, 1, EMAIL), (bundle.pk, 1, SMS),
                      (bundle.pk, 7, EMAIL), (bundle.pk, 7, SMS)]
    assert due_at(bundle) is None
    sweep_at(end + timedelta(days=1))
    assert len(sent()) == 4


def test_a_seven_day_plan_gets_only_the_one_day_reminder():
    bundle = running_plan(customer(), starts_at=timezone.now(), days=7)
    assert due_at(bundle) == bundle.ends_at - timedelta(days=1)
    for at in (bundle.starts_at, bundle.ends_at - timedelta(days=1)):
        sweep_at(at)
    assert sent() == [(bundle.pk, 1, EMAIL), (bundle.pk, 1, SMS)]


def test_a_sweep_late_by_days_sends_only_the_most_urgent_and_never_after_the_end():
    owner = customer(phone=False)
    bundle = running_plan(owner, starts_at=timezone.now() - timedelta(days=1))
    late = running_plan(customer(phone=False), starts_at=timezone.now() + timedelta(days=10))
    # The sweep was down from before the 7-day moment until half a day before the end.
    sweep_at(bundle.ends_at - timedelta(hours=12))
    assert sent(bundle=bundle) == [(bundle.pk, 1, EMAIL)]
    # ...or until after the end: a period that has ended gets no reminder.
    sweep_at(late.ends_at + timedelta(minutes=1))
    assert sent(bundle=late) == []
    assert due_at(late) is None


def test_a_late_reminder_says_the_days_really_left(mailoutbox,
                                                  django_capture_on_commit_callbacks):
    """Swept two days before the end with the 7-day step the most urgent passed: the
    message says 2 days, never 7."""
    bundle = running_plan(customer(phone=False), starts_at=timezone.now() - timedelta(days=1))
    at = bundle.ends_at - timedelta(days=2)
    with time_machine.travel(at, tick=False), django_capture_on_commit_callbacks(execute=True):
        tasks.reminder_sweep()
    assert sent(bundle=bundle) == [(bundle.pk, 7, EMAIL)]
    [message] = mailoutbox
    assert message.subject.endswith("ends in 2 days"), message.subject


def test_queued_plans_count_a_customer_who_renewed_is_not_told_to_renew():
    start = timezone.now()
    running = running_plan(customer(phone=False), starts_at=start, days=7)
    esim = running.esim
    queued = renew(esim, days=30)
    end = running.ends_at + timedelta(days=30)
    # The first reminder is 30 days before the new end: when the running week ends.
    assert due_at(running) == end - timedelta(days=30) == running.ends_at
    sweep_at(running.ends_at - timedelta(days=1))  # the old end's "1 day left": none
    assert sent() == []
    sweep_at(running.ends_at)
    # About the last paid plan, so its end gets its own set.
    assert sent() == [(queued.pk, 30, EMAIL)]
    assert due_at(running) == end - timedelta(days=7)


def test_a_renewal_bought_a_minute_before_a_reminder_moves_it_to_the_new_end():
    start = timezone.now()
    running = running_plan(customer(), starts_at=start)
    old_end = running.ends_at
    with time_machine.travel(old_end - timedelta(days=7, minutes=1), tick=False):
        queued = renew(running.esim, days=7)
    new_end = old_end + timedelta(days=7)
    # Bought with 7 days left: no stale "30 days" for the new end; next is its 7-day.
    assert due_at(running) == new_end - timedelta(days=7) == old_end
    sweep_at(old_end - timedelta(days=7))
    sweep_at(old_end - timedelta(days=1))
    assert sent() == []
    sweep_at(new_end - timedelta(days=7))
    assert sent() == [(queued.pk, 7, EMAIL), (queued.pk, 7, SMS)]


def test_a_renewal_bought_after_the_moment_but_before_the_sweep_stops_it_too():
    running = running_plan(customer(phone=False), starts_at=timezone.now())
    with time_machine.travel(running.ends_at - timedelta(days=7) + timedelta(minutes=1),
                             tick=False):
        renew(running.esim, days=30)
        tasks.reminder_sweep()
    assert sent() == []


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Pacific/Pago_Pago"])
def test_midnight_in_far_time_zones_the_moment_is_absolute(zone):
    local = zoneinfo.ZoneInfo(zone)
    # The plan ends at local midnight; the 1-day reminder is due 24 hours earlier, also
    # local midnight, whatever the offset (+14 or -11 hours).
    end = datetime(2031, 7, 10, 0, 0, tzinfo=local).astimezone(UTC)
    owner = customer(time_zone=zone)
    with time_machine.travel(end - timedelta(days=5), tick=False):
        bundle = running_plan(owner, starts_at=end - timedelta(days=7), days=7)
    assert bundle.ends_at == end
    assert due_at(bundle) == end - timedelta(days=1)
    sweep_at(end - timedelta(days=1, seconds=1))
    assert sent() == []
    sweep_at(end - timedelta(days=1))
    email = Notification.objects.get(kind=REMINDER, channel=EMAIL)
    text = Notification.objects.get(kind=REMINDER, channel=SMS)
    assert email.next_attempt_at == end - timedelta(days=1)
    # Midnight is in the quiet hours there: the text waits until 8 in the morning.
    assert text.next_attempt_at == datetime(2031, 7, 9, 8, 0, tzinfo=local)


def test_far_zones_are_due_at_their_own_instants():
    kiritimati = customer(time_zone="Pacific/Kiritimati", phone=False)
    pago = customer(time_zone="Pacific/Pago_Pago", phone=False)
    ends = {}
    for owner in (kiritimati, pago):
        end = datetime(2031, 7, 10, tzinfo=zoneinfo.ZoneInfo(owner.time_zone)).astimezone(UTC)
        with time_machine.travel(end - timedelta(days=5), tick=False):
            ends[owner.pk] = running_plan(owner, starts_at=end - timedelta(days=7), days=7)
    east, west = ends[kiritimati.pk], ends[pago.pk]
    assert west.ends_at - east.ends_at == timedelta(hours=25)
    sweep_at(east.ends_at - timedelta(days=1))
    assert sent() == [(east.pk, 1, EMAIL)]
    sweep_at(west.ends_at - timedelta(days=1))
    assert sent() == [(east.pk, 1, EMAIL), (west.pk, 1, EMAIL)]


@pytest.mark.parametrize("end_local", [
    datetime(2031, 3, 12, 12, 0),  # a week after... across the March change (9 March)
    datetime(2031, 11, 5, 12, 0),  # across the November change (2 November)
])
def test_a_daylight_saving_change_does_not_move_the_moment(end_local):
    new_york = zoneinfo.ZoneInfo("America/New_York")
    # In UTC: Python's arithmetic on a zone-aware time is wall-clock arithmetic.
    end = end_local.replace(tzinfo=new_york).astimezone(UTC)
    owner = customer(time_zone="America/New_York", phone=False)
    with time_machine.travel(end - timedelta(days=20), tick=False):
        bundle = running_plan(owner, starts_at=end - timedelta(days=30))
    due = end - timedelta(hours=7 * 24)
    assert due_at(bundle) == due
    # The clock on the wall moved by an hour: 7 days are still 168 hours.
    assert due.astimezone(new_york).hour != 12 == end.astimezone(new_york).hour
    sweep_at(due - timedelta(seconds=1))
    assert sent() == []
    sweep_at(due)
    assert sent() == [(bundle.pk, 7, EMAIL)]


def test_suspended_and_cancelled_esims_get_none():
    bundle = running_plan(customer(phone=False), starts_at=timezone.now())
    ESim.objects.filter(pk=bundle.esim_id).update(state=ESim.State.SUSPENDED)
    sweep_at(bundle.ends_at - timedelta(days=7))
    assert sent() == [] and due_at(bundle) is None
    told([bundle])  # a later report does not bring them back
    assert due_at(bundle) is None


def test_the_sweep_run_twice_asks_once():
    bundle = running_plan(customer(), starts_at=timezone.now())
    at = bundle.ends_at - timedelta(days=7)
    sweep_at(at)
    # A repeated task, with the eSIM made due again (as a crash after commit would leave
    # it if the schedule had not been written): the rows are there, nothing is added.
    ESim.objects.filter(pk=bundle.esim_id).update(reminder_due_at=at)
    sweep_at(at + timedelta(minutes=5))
    assert sent() == [(bundle.pk, 7, EMAIL), (bundle.pk, 7, SMS)]


def test_a_crash_before_commit_leaves_nothing_and_the_next_sweep_makes_them(monkeypatch):
    bundle = running_plan(customer(), starts_at=timezone.now())
    at = bundle.ends_at - timedelta(days=7)

    def crash(due):
        raise RuntimeError("worker killed")

    with monkeypatch.context() as patch:
        patch.setattr(reminders, "_due_save", crash)
        with pytest.raises(RuntimeError):
            sweep_at(at)
    assert sent() == [] and due_at(bundle) == at
    sweep_at(at + timedelta(minutes=5))
    assert sent() == [(bundle.pk, 7, EMAIL), (bundle.pk, 7, SMS)]


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_make_each_message_once(monkeypatch):
    bundles = [running_plan(customer(), starts_at=timezone.now()) for _ in range(3)]
    at = bundles[0].ends_at - timedelta(days=7) + timedelta(minutes=1)
    inside, release = threading.Event(), threading.Event()
    real = reminders.notifications_request

    def slow(**kwargs):
        inside.set()  # the first sweep holds its claimed eSIMs here
        assert release.wait(10)
        return real(**kwargs)

    counts: list[int] = []

    def first():
        try:
            with time_machine.travel(at, tick=False):
                counts.append(reminders.reminders_send_due())
        finally:
            connections.close_all()

    monkeypatch.setattr(reminders, "notifications_request", slow)
    thread = threading.Thread(target=first)
    thread.start()
    assert inside.wait(10)
    monkeypatch.setattr(reminders, "notifications_request", real)
    # The second sweep skips the locked eSIMs rather than waiting or taking them too.
    with time_machine.travel(at, tick=False):
        assert reminders.reminders_send_due() == 0
    release.set()
    thread.join(10)
    assert counts == [3]
    assert sweep_at(at) == 0
    assert len(sent()) == 6
    assert {b.pk for b in bundles} == {pk for pk, _days, _channel in sent()}


def test_the_sweep_queries_do_not_grow_with_esims_not_due():
    def queries(due: int, not_due: int) -> int:
        Notification.objects.all().delete()
        start = timezone.now()
        for _ in range(due):
            running_plan(customer(), starts_at=start)
        for _ in range(not_due):
            running_plan(customer(), starts_at=start + timedelta(days=3))
        with (time_machine.travel(start + timedelta(days=23), tick=False),
              CaptureQueriesContext(connection) as captured):
            tasks.reminder_sweep()
        assert Notification.objects.count() == 2 * due
        ESim.objects.update(reminder_due_at=None)
        return len(captured)

    assert queries(due=2, not_due=1) == queries(due=8, not_due=20)


def test_with_auto_renewal_the_offer_is_the_charge_and_after_a_skip_a_renew_link(alice, settings):
    settings.PORTAL_BASE_URL = "https://portal.example"
    esim = auto_renewing_esim(alice, ends_in=timedelta(days=3))
    offer = reminders.reminder_offer(ESim.objects.get(pk=esim.pk))
    assert offer.auto_renews and offer.amount_minor == 800 and offer.currency == "USD"
    assert offer.charge_at == esim.renew_at
    assert offer.skip_url and offer.skip_url.startswith("https://portal.example/n/skip-renewal/")
    assert offer.renew_url is None

    running = esim.bundles.get()
    renewal_services.renewal_skip(esim=esim, bundle_id=running.pk)
    offer = reminders.reminder_offer(ESim.objects.get(pk=esim.pk))
    assert not offer.auto_renews and offer.skip_url is None
    assert offer.renew_url == ("https://portal.example" + reverse("billing:renew", args=[esim.pk])
                               + f"?plan={running.plan_code}")
    assert offer.ends_at == running.ends_at


def test_without_auto_renewal_the_offer_is_a_renew_link(alice):
    bundle = running_plan(alice, starts_at=timezone.now())
    offer = reminders.reminder_offer(bundle.esim)
    assert not offer.auto_renews and offer.charge_at is None and offer.skip_url is None
    assert offer.renew_url is not None and offer.renew_url.endswith(f"?plan={bundle.plan_code}")
    assert offer.plan is not None and offer.amount_minor == 800


def test_through_the_real_services_install_and_renewal_schedule_the_reminders(
        installed_esim, plans):
    # Installed at the carrier (esims/services.py told the receiver): a week plan
    # running, so the first reminder is the 1-day one.
    running = installed_esim.bundles.get(state=Bundle.State.ACTIVE)
    assert running.ends_at is not None
    assert due_at(running) == running.ends_at - timedelta(days=1)
    # A month renewal paid (its bundle made by esims/services.py): the end moves 30
    # days, and the reminders are for the new end, about the new bundle: the first 30
    # days before it, when the running week ends.
    order = OrderFactory(customer=installed_esim.owner, plan=plans["month"],
                         kind=Order.Kind.RENEWAL, status=Order.Status.PAID,
                         esim=installed_esim)
    renewal = bundle_create_for_order(order=order, esim=installed_esim)
    new_end = running.ends_at + timedelta(days=30)
    assert due_at(running) == new_end - timedelta(days=30) == running.ends_at
    sweep_at(running.ends_at - timedelta(days=1))
    assert sent() == []
    sweep_at(running.ends_at)
    assert sent() == [(renewal.pk, 30, EMAIL)]
