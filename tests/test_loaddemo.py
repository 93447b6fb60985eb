"""`make run`'s demo customer signs in to a household of eSIMs in every state, built
through the purchase services against the carrier simulator; a second run makes nothing
twice."""

from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from billing.models import Order, Payment
from esims.models import Bundle, ESim
from notifications.models import Notification
from notifications.sms import LocmemBackend
from portal.demo_household import NEW, PHONE, TABLET, WATCH
from portal.management.commands.loaddemo import DEMO_EMAIL

pytestmark = pytest.mark.django_db(transaction=True)


def _load():
    out = StringIO()
    call_command("loaddemo", stdout=StringIO())
    call_command("loaddemo_household", "--wait", "5", stdout=out)
    return out.getvalue()


def _counts():
    return (ESim.objects.count(), Order.objects.count(), Payment.objects.count(),
            Bundle.objects.count(), Notification.objects.count())


def test_the_household_shows_every_state_and_a_second_run_makes_nothing(
        carrier, live_server, settings):
    settings.PORTAL_BASE_URL = live_server.url  # the household waits for the portal too
    mail.outbox.clear()
    LocmemBackend.outbox.clear()
    printed = _load()
    for nickname in (PHONE, TABLET, WATCH, NEW):
        assert nickname in printed
    esims = {esim.nickname: esim for esim in ESim.objects.filter(owner__email=DEMO_EMAIL)}
    assert set(esims) == {PHONE, TABLET, WATCH, NEW}
    now = timezone.now()

    phone = esims[PHONE]
    running = phone.bundles.get(state=Bundle.State.ACTIVE)
    assert phone.state == ESim.State.INSTALLED and not phone.auto_renew
    assert 79 <= running.data_used_bytes * 100 // running.data_allowance_bytes < 85
    assert timezone.timedelta(days=1, hours=23) < running.ends_at - now <= (
        timezone.timedelta(days=2))
    alerts = Notification.objects.filter(esim=phone, kind=Notification.Kind.DATA_ALERT)
    assert {n.channel for n in alerts} == {"email", "sms"}
    # Two days left of a month: the 7-day reminder, asked for by the run's own sweep.
    reminders = Notification.objects.filter(esim=phone, kind=Notification.Kind.EXPIRY_REMINDER)
    assert {(n.channel, n.threshold) for n in reminders} == {("email", 7), ("sms", 7)}
    assert any("ends in 2 days" in m.subject for m in mail.outbox)
    assert LocmemBackend.outbox and mail.outbox  # they went out, by text and by email

    tablet = esims[TABLET]
    assert tablet.auto_renew and tablet.renewal_payment_method is not None
    assert tablet.bundles.filter(state=Bundle.State.ACTIVE).count() == 1
    assert tablet.bundles.filter(state=Bundle.State.QUEUED).count() == 1
    assert Order.objects.get(esim=tablet, kind=Order.Kind.RENEWAL).status != (
        Order.Status.PENDING_PAYMENT)

    watch = esims[WATCH]
    ended = watch.bundles.get()
    assert ended.state == Bundle.State.EXPIRED
    assert timezone.timedelta(days=6) < now - ended.ends_at < timezone.timedelta(days=8)
    assert watch.state == ESim.State.EXPIRED

    assert esims[NEW].state == ESim.State.READY
    assert carrier.callbacks() is not None

    demo = phone.owner
    assert demo.phone == "+14155550100" and demo.phone_verified_at is not None

    before = _counts()
    printed = _load()
    assert _counts() == before
    assert printed.count("there already") == 4
