"""The usage feed: carrier reports (signed callbacks and the periodic poll) taken in so
that usage only moves forward, holds as of the carrier's own time, and a report dated in
the future is refused; plans that end start the next one; the poll claims each eSIM once
and reads a hundred per carrier call."""

from datetime import UTC, datetime, timedelta
from typing import cast

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from carrier import client as carrier_client
from carrier import tasks
from carrier.models import CarrierEvent
from esims import services
from esims.models import Bundle, ESim
from notifications.models import Notification
from tests.billing.test_concurrency import race
from tests.carrier.test_callbacks import post, signed
from tests.factories import BundleFactory, OrderFactory, UserFactory

USAGE_URL = reverse("carrier:usage")
MB = 1024 * 1024


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def report(client, bundle, *, at, used, allowance=None, state="active", usage_at=None,
           event_id=None):
    """The carrier's signed usage callback for `bundle`, dated `at`."""
    allowance = allowance or bundle.data_allowance_bytes
    body = {"event_id": event_id or f"{bundle.carrier_reference}:{at}:{used}:{allowance}",
            "type": "usage", "iccid": bundle.esim.iccid, "reported_at": iso(at), "bundle": {
                "reference": bundle.carrier_reference, "state": state,
                "initial_quantity_bytes": allowance,
                "remaining_quantity_bytes": max(0, allowance - used), "unlimited": False,
                "used_bytes": used, "start": "2026-11-20T10:00:00Z",
                "end": "2026-12-20T10:00:00Z"}}
    if usage_at is not None:
        body["bundle"]["usage_at"] = iso(usage_at)
    raw, sig = signed(body)
    return post(client, USAGE_URL, raw, sig)


def row(bundle) -> Bundle:
    return Bundle.objects.get(pk=bundle.pk)


@pytest.mark.django_db
class TestForwardOnly:
    def test_a_signed_report_of_less_never_lowers_the_data_used(self, client):
        bundle = BundleFactory(data_used_bytes=500 * MB)
        now = timezone.now()
        assert report(client, bundle, at=now, used=1024).status_code == 204
        taken = row(bundle)
        assert taken.data_used_bytes == 500 * MB
        assert taken.usage_reported_at == now

    def test_reordered_reports_keep_the_newest_figures(self, client):
        bundle = BundleFactory(data_used_bytes=0)
        now = timezone.now().replace(microsecond=0)
        newer = dict(at=now - timedelta(minutes=1), used=300 * MB,
                     allowance=bundle.data_allowance_bytes + 1024 * MB)  # after a top-up
        older = dict(at=now - timedelta(minutes=5), used=200 * MB)
        for sent in (newer, older, newer):
            assert report(client, bundle, **sent).status_code == 204
        taken = row(bundle)
        assert taken.data_used_bytes == 300 * MB
        assert taken.data_allowance_bytes == bundle.data_allowance_bytes + 1024 * MB
        assert taken.usage_reported_at == now - timedelta(minutes=1)
        assert CarrierEvent.objects.count() == 2  # the repeat is stored once

    def test_a_lagging_report_does_not_undo_a_newer_period(self):
        """A lagging carrier delivers a report said before the one we took in last (from
        a poll): its figures add nothing and its dates never replace the newer ones,
        even when its usage time is later than the usage time we hold."""
        bundle = BundleFactory(data_used_bytes=0, state=Bundle.State.ACTIVE)
        now = timezone.now().replace(microsecond=0)
        start, end = now - timedelta(days=5), now + timedelta(days=2)

        def said(at, *, start, end, usage_at=None, used=100 * MB):
            return carrier_client.CarrierBundle(
                reference=bundle.carrier_reference, state="active", unlimited=False,
                initial_bytes=bundle.data_allowance_bytes,
                remaining_bytes=bundle.data_allowance_bytes - used, used_bytes=used,
                start=start, end=end, usage_at=usage_at)

        # The poll: said now, its usage two minutes behind (the carrier's lag).
        services.bundle_update_from_carrier(
            reference=bundle.carrier_reference, reported_at=now,
            carrier_bundle=said(now, start=start, end=end,
                                usage_at=now - timedelta(minutes=2)))
        # Then a callback said a second earlier, with the dates before the plan was moved.
        services.bundle_update_from_carrier(
            reference=bundle.carrier_reference, reported_at=now - timedelta(seconds=1),
            carrier_bundle=said(now, start=now - timedelta(days=1), end=now + timedelta(days=6)))
        taken = row(bundle)
        assert (taken.starts_at, taken.ends_at) == (start, end)
        assert taken.carrier_said_at == now

    def test_an_active_report_of_an_ended_bundle_moves_no_dates(self):
        bundle = BundleFactory(state=Bundle.State.EXPIRED, data_used_bytes=0,
                               starts_at=timezone.now() - timedelta(days=8),
                               ends_at=timezone.now() - timedelta(days=7))
        ended = (bundle.starts_at, bundle.ends_at)
        services.bundle_update_from_carrier(
            reference=bundle.carrier_reference, reported_at=timezone.now(),
            carrier_bundle=carrier_client.CarrierBundle(
                reference=bundle.carrier_reference, state="active", unlimited=False,
                initial_bytes=bundle.data_allowance_bytes,
                remaining_bytes=bundle.data_allowance_bytes, used_bytes=0,
                start=timezone.now(), end=timezone.now() + timedelta(days=1)))
        taken = row(bundle)
        assert taken.state == Bundle.State.EXPIRED
        assert (taken.starts_at, taken.ends_at) == ended

    def test_the_time_kept_is_when_the_figures_hold_for(self, client):
        bundle = BundleFactory(data_used_bytes=0)
        now = timezone.now().replace(microsecond=0)
        report(client, bundle, at=now, usage_at=now - timedelta(minutes=2), used=MB)
        assert row(bundle).usage_reported_at == now - timedelta(minutes=2)


@pytest.mark.django_db
class TestFromTheFuture:
    @pytest.mark.parametrize("field", ["reported_at", "usage_at"])
    def test_a_report_dated_ahead_is_refused_and_nothing_is_stored(self, client, field):
        bundle = BundleFactory(data_used_bytes=0)
        now = timezone.now()
        future = datetime(2030, 1, 1, tzinfo=UTC)
        dates = {"at": future} if field == "reported_at" else {"at": now, "usage_at": future}
        response = report(client, bundle, used=MB, **dates)
        assert response.status_code == 400
        assert "future" in response.json()["error"]
        assert not CarrierEvent.objects.exists()
        taken = row(bundle)
        assert (taken.data_used_bytes, taken.usage_reported_at) == (0, None)

    def test_a_little_ahead_is_within_the_clocks_allowance(self, client, settings):
        settings.USAGE_REPORT_MAX_AHEAD_SECONDS = 300
        bundle = BundleFactory(data_used_bytes=0)
        now = timezone.now()
        assert report(client, bundle, at=now + timedelta(seconds=200), used=MB).status_code == 204
        taken = row(bundle)
        # Kept as now at the latest: a later real report is never taken for an old one.
        assert taken.data_used_bytes == MB and taken.usage_reported_at <= timezone.now()

    def test_a_bundle_frozen_by_a_2030_report_takes_real_reports_and_shows_a_top_up(
            self, client):
        bundle = BundleFactory(data_used_bytes=100 * MB,
                               usage_reported_at=datetime(2030, 1, 1, tzinfo=UTC))
        now = timezone.now().replace(microsecond=0)
        topped_up = bundle.data_allowance_bytes + 1024 * MB
        assert report(client, bundle, at=now, used=200 * MB,
                      allowance=topped_up).status_code == 204
        taken = row(bundle)
        assert (taken.data_used_bytes, taken.data_allowance_bytes) == (200 * MB, topped_up)
        assert taken.usage_reported_at == now


@pytest.mark.django_db
def test_the_poll_keeps_the_carriers_time_not_ours(carrier, alice, plans):
    """A lagging carrier: the figures shown are as of its usage_at, so the freshness the
    dashboard shows is honest."""
    from tests.journeys import install_esim

    carrier.configure(usage_lag_seconds=120)
    esim = install_esim(carrier, alice, plans["week"])
    carrier.configure(usage_bytes_per_second=1000)
    carrier.tick()
    # Ten minutes on, for the portal and the simulator alike (one process, one clock).
    with time_machine.travel(timezone.now() + timedelta(minutes=10)):
        carrier.tick()
        before = timezone.now()
        assert services.esims_poll_carrier(esim_ids=[esim.pk]) == 1
    bundle = esim.bundles.get(state=Bundle.State.ACTIVE)
    assert bundle.usage_reported_at is not None
    lag = before - bundle.usage_reported_at
    assert timedelta(seconds=119) <= lag <= timedelta(seconds=125)
    # Eight of the ten minutes of use are known: 1000 bytes a second.
    assert 475_000 <= bundle.data_used_bytes <= 485_000


def running_esims(carrier, count: int) -> list[ESim]:
    """`count` installed eSIMs, each with a month's plan running at the simulator."""
    iccids = carrier.create_profiles(count, installed=True)
    owner = cast(User, UserFactory())
    esims = ESim.objects.bulk_create([
        ESim(owner=owner, nickname="Phone", state=ESim.State.INSTALLED, iccid=iccid,
             installed_at=timezone.now()) for iccid in iccids])
    for esim in esims:
        BundleFactory(esim=esim, order__customer=owner, order__esim=esim,
                      state=Bundle.State.QUEUED, data_used_bytes=0, starts_at=None,
                      ends_at=None)
    bundles = list(Bundle.objects.filter(esim__in=esims).select_related("esim"))
    assert set(services.bundles_apply_at_carrier(bundles=bundles).values()) == {None}
    return esims


@pytest.mark.django_db
def test_the_poll_reads_a_hundred_esims_per_carrier_call(carrier, monkeypatch,
                                                         django_assert_max_num_queries):
    esims = running_esims(carrier, 150)
    carrier.configure(usage_bytes_per_second=1000)
    carrier.tick(advance_seconds=0)
    calls = []
    real = carrier_client.bundles_query

    def counted(*, iccids):
        calls.append(len(iccids))
        return real(iccids=iccids)

    monkeypatch.setattr(carrier_client, "bundles_query", counted)
    Bundle.objects.update(data_used_bytes=0, usage_reported_at=None)
    assert tasks.usage_poll_sweep() == 150
    assert sorted(calls) == [50, 100]
    assert not Bundle.objects.filter(esim__in=esims, usage_reported_at=None).exists()
    assert not ESim.objects.filter(pk__in=[e.pk for e in esims], synced_at=None).exists()

    # Taking in a hundred answers costs a handful of queries, not some per eSIM.
    batch = [e.pk for e in esims[:100]]
    with django_assert_max_num_queries(12):
        services.esims_poll_carrier(esim_ids=batch)


@pytest.mark.django_db
def test_the_poll_claims_each_esim_once_until_it_is_due_again(carrier):
    esims = running_esims(carrier, 3)
    idle = BundleFactory(state=Bundle.State.EXPIRED).esim  # nothing running: never asked
    first = services.esims_claim_for_usage_poll(older_than=timedelta(minutes=15))
    assert sorted(first) == sorted(e.pk for e in esims) and idle.pk not in first
    assert services.esims_claim_for_usage_poll(older_than=timedelta(minutes=15)) == []
    with time_machine.travel(timezone.now() + timedelta(minutes=16)):
        again = services.esims_claim_for_usage_poll(older_than=timedelta(minutes=15))
    assert sorted(again) == sorted(first)


@pytest.mark.django_db(transaction=True)
def test_sweeps_side_by_side_never_claim_the_same_esim():
    for _ in range(40):
        BundleFactory()
    results, errors = race(lambda: services.esims_claim_for_usage_poll(
        older_than=timedelta(minutes=15), limit=15))
    assert errors == []
    claimed = [pk for result in results for pk in result]
    assert len(claimed) == len(set(claimed)) == 40


@pytest.mark.django_db
def test_when_a_plan_runs_out_the_next_one_starts_and_the_last_expires_the_esim(
        carrier, alice, plans, django_capture_on_commit_callbacks):
    from tests.journeys import install_esim

    esim = install_esim(carrier, alice, plans["week"])
    first = esim.bundles.get()
    renewal = OrderFactory(customer=alice, plan=plans["month"], esim=esim,
                           kind="renewal", status="paid", paid_at=timezone.now())
    second = services.bundle_create_for_order(order=renewal, esim=esim)
    services.bundle_apply_at_carrier(bundle=second)
    assert second.state == Bundle.State.QUEUED

    carrier.consume(esim.iccid, first.data_allowance_bytes)
    services.esims_poll_carrier(esim_ids=[esim.pk])
    assert row(first).state == Bundle.State.DEPLETED
    assert row(second).state == Bundle.State.ACTIVE
    assert ESim.objects.get(pk=esim.pk).state == ESim.State.INSTALLED
    assert not Notification.objects.filter(kind=Notification.Kind.ESIM_EXPIRED).exists()

    carrier.consume(esim.iccid, second.data_allowance_bytes)
    services.esims_poll_carrier(esim_ids=[esim.pk])
    assert row(second).state == Bundle.State.DEPLETED
    assert ESim.objects.get(pk=esim.pk).state == ESim.State.EXPIRED
    ended = Notification.objects.get(kind=Notification.Kind.ESIM_EXPIRED)
    assert (ended.bundle_id, ended.esim_id) == (second.pk, esim.pk)
    assert sorted(Notification.objects.filter(kind=Notification.Kind.OUT_OF_DATA)
                  .values_list("bundle_id", flat=True)) == sorted([first.pk, second.pk])
