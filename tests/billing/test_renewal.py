"""Renewing an eSIM by hand, against the carrier simulator over real HTTP."""

import uuid
import zoneinfo
from datetime import timedelta

import pytest
from django.urls import reverse

from billing.models import Order
from esims.models import Bundle, ESim
from esims.services import esim_sync_from_carrier
from tests.factories import ESimFactory
from tests.journeys import pay_and_activate

pytestmark = pytest.mark.django_db


def renew(client, esim, plan_code, key=None):
    return client.post(reverse("billing:renew", args=[esim.pk]),
                       {"plan": plan_code, "idempotency_key": key or str(uuid.uuid4())})


def test_renewal_page_shows_the_exact_new_period_in_the_customers_time(
        alice_client, alice, installed_esim):
    alice.time_zone = "Asia/Tokyo"
    alice.save()
    current = installed_esim.bundles.get(state=Bundle.State.ACTIVE)
    response = alice_client.get(reverse("billing:renew", args=[installed_esim.pk]))
    assert response.context["plan"].code == "jp-week"  # the same plan is offered first
    tokyo = zoneinfo.ZoneInfo("Asia/Tokyo")
    start = current.ends_at.astimezone(tokyo)
    end = (current.ends_at + timedelta(days=7)).astimezone(tokyo)
    content = response.content.decode()
    assert f"From {start:%-d %b %Y, %H:%M} to {end:%-d %b %Y, %H:%M} (Asia/Tokyo)" in content

    other = alice_client.get(reverse("billing:renew", args=[installed_esim.pk]),
                             {"plan": "jp-month"}).content.decode()
    end = (current.ends_at + timedelta(days=30)).astimezone(tokyo)
    assert f"{end:%-d %b %Y, %H:%M}" in other and "US$18.00" in other


def test_renewing_an_active_esim_queues_the_new_plan_after_the_current_one(
        alice_client, alice, installed_esim, carrier, django_capture_on_commit_callbacks):
    current = installed_esim.bundles.get(state=Bundle.State.ACTIVE)
    response = renew(alice_client, installed_esim, "jp-month")
    order = Order.objects.get(kind=Order.Kind.RENEWAL)
    assert response["Location"] == reverse("billing:pay", args=[order.number])
    assert (order.esim_id, order.plan.code, order.amount_minor) == (
        installed_esim.pk, "jp-month", 1800)

    order = pay_and_activate(alice_client, order.number, django_capture_on_commit_callbacks)
    assert order.status == Order.Status.COMPLETED
    queued = Bundle.objects.get(order=order)
    assert queued.state == Bundle.State.QUEUED and queued.plan_code == "jp-month"
    current.refresh_from_db()
    assert current.state == Bundle.State.ACTIVE  # nothing paid for is shortened
    assert "Next: Japan month" in alice_client.get(reverse("esims:dashboard")).content.decode()

    # The current week ends; the carrier starts the month where the week ended.
    carrier.tick(advance_seconds=7 * 86400 + 60)
    esim_sync_from_carrier(esim_id=installed_esim.pk)
    queued.refresh_from_db()
    current.refresh_from_db()
    assert current.state == Bundle.State.EXPIRED and queued.state == Bundle.State.ACTIVE
    assert queued.starts_at == current.ends_at
    assert queued.ends_at - queued.starts_at == timedelta(days=30)


def test_renewal_starts_early_when_the_current_data_runs_out(
        alice_client, installed_esim, carrier, django_capture_on_commit_callbacks):
    current = installed_esim.bundles.get(state=Bundle.State.ACTIVE)
    renew(alice_client, installed_esim, "jp-week")
    order = pay_and_activate(alice_client, Order.objects.get(kind="renewal").number,
                             django_capture_on_commit_callbacks)
    carrier.consume(installed_esim.iccid, current.data_allowance_bytes)
    esim_sync_from_carrier(esim_id=installed_esim.pk)
    current.refresh_from_db()
    renewal = Bundle.objects.get(order=order)
    assert current.state == Bundle.State.DEPLETED and renewal.state == Bundle.State.ACTIVE
    assert renewal.starts_at < current.ends_at


def test_renewing_an_expired_esim_starts_now(alice_client, alice, installed_esim, carrier,
                                             django_capture_on_commit_callbacks):
    expired_at = installed_esim.bundles.get().ends_at
    carrier.tick(advance_seconds=7 * 86400 + 60)  # the carrier's clock is now a week ahead
    esim_sync_from_carrier(esim_id=installed_esim.pk)
    installed_esim.refresh_from_db()
    assert installed_esim.state == ESim.State.EXPIRED

    content = alice_client.get(reverse("billing:renew", args=[installed_esim.pk])).content
    assert "Starts as soon as you have paid" in content.decode()
    renew(alice_client, installed_esim, "jp-week")
    order = pay_and_activate(alice_client, Order.objects.get(kind="renewal").number,
                             django_capture_on_commit_callbacks)
    bundle = Bundle.objects.get(order=order)
    installed_esim.refresh_from_db()
    assert bundle.state == Bundle.State.ACTIVE and installed_esim.state == ESim.State.INSTALLED
    # "Now" at the carrier: a minute after the old plan ended there.
    assert timedelta(0) < bundle.starts_at - expired_at < timedelta(minutes=5)


def test_double_submitted_renewal_makes_one_order(alice_client, installed_esim):
    key = str(uuid.uuid4())
    first, second = renew(alice_client, installed_esim, "jp-week", key), renew(
        alice_client, installed_esim, "jp-week", key)
    assert first["Location"] == second["Location"]
    assert Order.objects.filter(kind=Order.Kind.RENEWAL).count() == 1


def test_renewing_another_customers_esim_is_404(client, bob, alice, plans):
    esim = ESimFactory(owner=alice)
    client.force_login(bob)
    assert client.get(reverse("billing:renew", args=[esim.pk])).status_code == 404
    assert renew(client, esim, "jp-week").status_code == 404
    assert not Order.objects.exists()


def test_renewing_with_an_unknown_or_retired_plan_is_404(alice_client, alice, plans):
    esim = ESimFactory(owner=alice)
    plans["month"].is_active = False
    plans["month"].save()
    assert renew(alice_client, esim, "jp-month").status_code == 404
    assert renew(alice_client, esim, "nope").status_code == 404
    assert alice_client.get(reverse("billing:renew", args=[esim.pk]),
                            {"plan": "nope"}).status_code == 404
    assert not Order.objects.exists()


def test_an_esim_still_being_prepared_cannot_be_renewed(alice_client, alice, plans):
    esim = ESimFactory(owner=alice, state=ESim.State.PROVISIONING, iccid=None)
    response = renew(alice_client, esim, "jp-week")
    assert response["Location"] == reverse("esims:dashboard")
    assert not Order.objects.exists()
