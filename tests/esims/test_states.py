"""The ESim and Bundle state machines (esims/esim_states.py, esims/bundle_states.py): a
move the table refuses changes nothing, a stale carrier report is taken without its
state, racing moves happen once, and the database refuses a state without its dates."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from carrier.client import CarrierBundle
from esims import services
from esims.bundle_states import BUNDLE, bundle_mark_revoked
from esims.esim_states import (
    ESIM,
    esim_cancel,
    esim_expire,
    esim_mark_installed,
    esim_resume,
    esim_suspend,
    esims_mark_ready,
)
from esims.models import Bundle, ESim
from portal.states import TransitionNotAllowed
from tests import services as machine
from tests.billing.test_concurrency import race
from tests.carrier.test_callbacks import post, progress, signed
from tests.factories import BundleFactory, ESimFactory

USAGE_URL = reverse("carrier:usage")
PROGRESS_URL = "/gsma/rsp2/es2plus/handleDownloadProgressInfo"


def report(client, bundle, state, *, at, used=1000, event_id=None):
    """The carrier's signed usage callback saying `bundle` is `state` at `at`."""
    body = {"event_id": event_id or f"{bundle.carrier_reference}:{state}:{at}",
            "type": "usage", "iccid": bundle.esim.iccid, "reported_at": at, "bundle": {
                "reference": bundle.carrier_reference, "state": state,
                "initial_quantity_bytes": 5000, "remaining_quantity_bytes": 5000 - used,
                "unlimited": False, "used_bytes": used,
                "start": "2026-11-20T10:00:00Z", "end": "2026-11-27T10:00:00Z"}}
    raw, sig = signed(body)
    return post(client, USAGE_URL, raw, sig)


def esim_row(esim):
    return ESim.objects.filter(pk=esim.pk).values().get()


@pytest.mark.django_db
class TestESimMoves:
    def test_a_cancelled_esim_cannot_become_installed(self, client):
        esim = ESimFactory(state=ESim.State.CANCELLED, auto_renew=False,
                           eid="89049032123451234512345678901235")
        before = esim_row(esim)
        with pytest.raises(TransitionNotAllowed, match="is cancelled: cannot become installed"):
            ESIM.move_one(esim.pk, to=ESim.State.INSTALLED, installed_at=timezone.now())
        assert not esim_mark_installed(esim_id=esim.pk, at=timezone.now())
        # A late install report from the SM-DP+ is taken (204) and moves nothing.
        raw, sig = signed(progress(esim.iccid, 4))
        assert post(client, PROGRESS_URL, raw, sig).status_code == 204
        assert esim_row(esim) == before

    def test_an_installed_esim_cannot_be_cancelled(self):
        esim = ESimFactory(auto_renew=True, renew_at=timezone.now())
        before = esim_row(esim)
        with pytest.raises(TransitionNotAllowed) as refused:
            esim_cancel(esim_id=esim.pk)
        assert (refused.value.current, refused.value.wanted) == ("installed", "cancelled")
        assert esim_row(esim) == before  # auto-renewal and its schedule untouched

    def test_marking_ready_takes_only_esims_being_prepared(self):
        new = ESimFactory(state=ESim.State.PROVISIONING, iccid=None)
        installed = ESimFactory()
        before = esim_row(installed)
        assert esims_mark_ready(esim_ids=[new.pk, installed.pk]) == 1
        new.refresh_from_db()
        assert new.state == ESim.State.READY and new.ready_at is not None
        assert esim_row(installed) == before

    def test_an_esim_with_a_plan_left_does_not_expire(self):
        bundle = BundleFactory(state=Bundle.State.QUEUED)
        assert not esim_expire(esim_id=bundle.esim_id)
        Bundle.objects.filter(pk=bundle.pk).update(state=Bundle.State.EXPIRED)
        assert esim_expire(esim_id=bundle.esim_id)
        assert ESim.objects.get(pk=bundle.esim_id).state == ESim.State.EXPIRED

    def test_a_renewal_reinstalls_an_esim_that_expired_before_any_install_report(self, client):
        esim = ESimFactory(state=ESim.State.EXPIRED, installed_at=None)
        bundle = BundleFactory(esim=esim, order__customer=esim.owner, order__esim=esim,
                               state=Bundle.State.QUEUED, starts_at=None, ends_at=None)
        assert report(client, bundle, "active", at="2026-11-22T12:00:00Z").status_code == 204
        esim.refresh_from_db()
        assert esim.state == ESim.State.INSTALLED and esim.installed_at is not None


@pytest.mark.django_db
class TestSuspension:
    """Kept for support's suspend and resume at the carrier (not built yet)."""

    @pytest.mark.parametrize("state", [ESim.State.INSTALLED, ESim.State.READY])
    def test_suspend_and_resume_return_to_where_it_was(self, state):
        esim = ESimFactory(state=state)
        esim_suspend(esim_id=esim.pk)
        assert ESim.objects.get(pk=esim.pk).state == ESim.State.SUSPENDED
        assert esim_resume(esim_id=esim.pk) == state
        assert ESim.objects.get(pk=esim.pk).state == state

    @pytest.mark.parametrize("state", [ESim.State.PROVISIONING, ESim.State.EXPIRED,
                                       ESim.State.CANCELLED])
    def test_only_a_ready_or_installed_esim_is_suspended(self, state):
        esim = ESimFactory(state=state)
        with pytest.raises(TransitionNotAllowed):
            esim_suspend(esim_id=esim.pk)
        assert ESim.objects.get(pk=esim.pk).state == state

    def test_only_a_suspended_esim_is_resumed(self):
        esim = ESimFactory()
        with pytest.raises(TransitionNotAllowed, match="is installed"):
            esim_resume(esim_id=esim.pk)

    def test_a_suspended_esim_is_not_expired_nor_installed_by_reports(self, client):
        bundle = BundleFactory(esim__state=ESim.State.READY)
        esim_suspend(esim_id=bundle.esim_id)
        raw, sig = signed(progress(bundle.esim.iccid, 4))
        assert post(client, PROGRESS_URL, raw, sig).status_code == 204
        assert report(client, bundle, "depleted", at="2026-11-22T12:00:00Z").status_code == 204
        assert Bundle.objects.get(pk=bundle.pk).state == Bundle.State.DEPLETED
        assert ESim.objects.get(pk=bundle.esim_id).state == ESim.State.SUSPENDED


@pytest.mark.django_db
class TestBundleMoves:
    def test_a_revoked_bundle_is_not_brought_back_by_a_stale_report(self, client, caplog):
        bundle = BundleFactory(state=Bundle.State.QUEUED, starts_at=None, ends_at=None)
        running = BundleFactory(esim=bundle.esim, order__customer=bundle.esim.owner,
                                order__esim=bundle.esim)
        assert bundle_mark_revoked(bundle_id=bundle.pk)
        with caplog.at_level("INFO", logger="esims.bundle_states"):
            for state in ("active", "queued", "depleted"):
                assert report(client, bundle, state, at="2026-11-22T12:00:00Z").status_code == 204
        assert Bundle.objects.get(pk=bundle.pk).state == Bundle.State.REVOKED
        assert Bundle.objects.get(pk=running.pk).state == Bundle.State.ACTIVE  # not ended
        assert "is revoked: cannot become active" in caplog.text

    def test_an_ended_bundle_never_becomes_active_again(self, client):
        bundle = BundleFactory(data_used_bytes=0)
        assert report(client, bundle, "expired", at="2026-11-22T12:00:00Z").status_code == 204
        assert report(client, bundle, "active", at="2026-11-22T13:00:00Z",
                      used=3000).status_code == 204
        bundle.refresh_from_db()
        assert bundle.state == Bundle.State.EXPIRED
        assert bundle.data_used_bytes == 3000  # the figures of the report are still taken

    def test_a_report_moving_a_bundle_back_keeps_its_state(self, client):
        bundle = BundleFactory()
        assert report(client, bundle, "queued", at="2026-11-22T12:00:00Z").status_code == 204
        assert Bundle.objects.get(pk=bundle.pk).state == Bundle.State.ACTIVE

    def test_the_end_inferred_when_the_next_bundle_starts_is_corrected_by_the_carrier(
            self, client):
        current = BundleFactory()
        esim = current.esim
        renewal = BundleFactory(esim=esim, order__customer=esim.owner, order__esim=esim,
                                state=Bundle.State.QUEUED, starts_at=None, ends_at=None)
        report(client, renewal, "active", at="2026-11-22T12:00:00Z")
        assert Bundle.objects.get(pk=current.pk).state == Bundle.State.EXPIRED
        report(client, current, "depleted", at="2026-11-22T11:00:00Z")
        assert Bundle.objects.get(pk=current.pk).state == Bundle.State.DEPLETED
        assert Bundle.objects.get(pk=renewal.pk).state == Bundle.State.ACTIVE
        assert ESim.objects.get(pk=esim.pk).state == ESim.State.INSTALLED

    def test_a_refund_leaves_a_bundle_that_has_ended_as_it_ended(self):
        bundle = BundleFactory(state=Bundle.State.DEPLETED)
        services.bundle_revoke(bundle=bundle)  # never applied: no carrier call
        assert Bundle.objects.get(pk=bundle.pk).state == Bundle.State.DEPLETED
        assert not bundle_mark_revoked(bundle_id=bundle.pk)

    def test_the_table_refuses_moves_out_of_depleted_and_revoked(self):
        for ended in (Bundle.State.DEPLETED, Bundle.State.REVOKED):
            bundle = BundleFactory(state=ended)
            for to in Bundle.State.values:
                if to != ended:
                    with pytest.raises(TransitionNotAllowed):
                        BUNDLE.move_one(bundle.pk, to=to)
            assert Bundle.objects.get(pk=bundle.pk).state == ended


@pytest.mark.django_db
@pytest.mark.parametrize(("state", "dates"), [
    (ESim.State.READY, {"ready_at": None}),
    (ESim.State.INSTALLED, {"installed_at": None}),
    (ESim.State.CANCELLED, {"installed_at": datetime(2026, 11, 1, tzinfo=UTC)}),
    (ESim.State.EXPIRED, {"ready_at": None, "installed_at": None}),
    (ESim.State.SUSPENDED, {"ready_at": None, "installed_at": None}),
])
def test_the_database_refuses_a_state_without_its_dates(state, dates):
    esim = ESimFactory(state=ESim.State.PROVISIONING, iccid=None)
    with pytest.raises(IntegrityError), transaction.atomic():
        ESim.objects.filter(pk=esim.pk).update(state=state, **dates)
    assert ESim.objects.get(pk=esim.pk).state == ESim.State.PROVISIONING


@pytest.mark.django_db(transaction=True)
class TestRaces:
    @pytest.fixture(autouse=True)
    def _postgresql_only(self):
        machine.need(connection.vendor == "postgresql", "PostgreSQL (row locks under real races)")

    def test_racing_marks_make_an_esim_ready_once(self):
        esim = ESimFactory(state=ESim.State.PROVISIONING, iccid=None)
        results, errors = race(lambda: esims_mark_ready(esim_ids=[esim.pk]), times=6)
        assert errors == [] and sorted(results) == [0, 0, 0, 0, 0, 1]
        assert ESim.objects.get(pk=esim.pk).state == ESim.State.READY

    def test_racing_cancels_cancel_once_and_the_others_are_told(self):
        esim = ESimFactory(state=ESim.State.READY)
        results, errors = race(lambda: esim_cancel(esim_id=esim.pk))
        assert len(results) == 1 and len(errors) == 3
        assert all(isinstance(e, TransitionNotAllowed) and e.current == "cancelled"
                   for e in errors)

    def test_a_cancel_racing_an_install_report_leaves_one_winner(self):
        esim = ESimFactory(state=ESim.State.READY)
        turns = iter(range(6))

        def run():
            if next(turns) % 2:
                return esim_mark_installed(esim_id=esim.pk, at=timezone.now())
            try:
                esim_cancel(esim_id=esim.pk)
                return True
            except TransitionNotAllowed:
                return False

        results, errors = race(run, times=6)
        assert errors == [] and results.count(True) == 1
        esim.refresh_from_db()
        assert esim.state in (ESim.State.CANCELLED, ESim.State.INSTALLED)
        assert (esim.installed_at is None) == (esim.state == ESim.State.CANCELLED)

    def test_racing_start_reports_end_the_bundle_before_once(self):
        current = BundleFactory()
        esim = current.esim
        renewal = BundleFactory(esim=esim, order__customer=esim.owner, order__esim=esim,
                                state=Bundle.State.QUEUED, starts_at=None, ends_at=None)
        at = timezone.now()
        started = CarrierBundle(reference=renewal.carrier_reference, state="active",
                                unlimited=False, initial_bytes=None, remaining_bytes=None,
                                used_bytes=10, start=at, end=at + timedelta(days=7))

        results, errors = race(lambda: services.bundle_update_from_carrier(
            reference=renewal.carrier_reference, carrier_bundle=started,
            reported_at=at).state)
        assert errors == [] and set(results) == {Bundle.State.ACTIVE}
        states = dict(Bundle.objects.filter(esim=esim).values_list("pk", "state"))
        assert states == {current.pk: Bundle.State.EXPIRED, renewal.pk: Bundle.State.ACTIVE}


@pytest.mark.django_db
def test_a_never_installed_esim_that_expired_first_is_still_cancelled():
    """A refund's cancelOrder makes the carrier revoke the eSIM's plans; when that report
    is taken before the refund cancels the eSIM here, it has expired, and it must still
    end cancelled (not expired and offered Renew)."""
    esim = ESimFactory(state=ESim.State.READY, installed_at=None)
    ESim.objects.filter(pk=esim.pk).update(state=ESim.State.EXPIRED)
    esim_cancel(esim_id=esim.pk)
    esim.refresh_from_db()
    assert esim.state == ESim.State.CANCELLED and not esim.auto_renew


@pytest.mark.django_db
def test_an_expired_esim_that_was_installed_cannot_be_cancelled():
    esim = ESimFactory()
    ESim.objects.filter(pk=esim.pk).update(state=ESim.State.EXPIRED)
    with pytest.raises(TransitionNotAllowed) as refused:
        esim_cancel(esim_id=esim.pk)
    assert refused.value.current == "expired"
    assert ESim.objects.get(pk=esim.pk).state == ESim.State.EXPIRED
