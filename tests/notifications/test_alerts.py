"""Data alerts, out of data and plan ended, asked for when a carrier report is taken in:
the highest step crossed, once each, whatever repeats or arrives out of order."""

from datetime import timedelta

import pytest
from django.utils import timezone

from carrier.client import CarrierBundle
from esims import services
from esims.models import Bundle, ESim
from notifications.models import Notification
from tests.esims.test_usage_feed import report
from tests.factories import BundleFactory

pytestmark = pytest.mark.django_db

K = Notification.Kind
GB = 1024 ** 3


@pytest.fixture
def bundle(alice):
    return BundleFactory(esim__owner=alice, data_allowance_bytes=10 * GB, data_used_bytes=0)


def rows(kind=None):
    found = Notification.objects.all()
    if kind is not None:
        found = found.filter(kind=kind)
    return sorted(found.values_list("kind", "channel", "threshold", "bundle_id", "esim_id"))


def send(client, bundle, used, *, minutes_ago=0, **extra):
    at = timezone.now() - timedelta(minutes=minutes_ago)
    assert report(client, bundle, at=at, used=used, **extra).status_code == 204


def test_a_jump_past_two_steps_sends_only_the_highest(client, bundle):
    send(client, bundle, 7 * GB, minutes_ago=10)
    assert rows() == []
    send(client, bundle, int(9.5 * GB))
    assert rows() == [(K.DATA_ALERT, "email", 90, bundle.pk, bundle.esim_id)]


def test_each_step_once_in_turn_and_never_again(client, bundle):
    send(client, bundle, int(7.6 * GB), minutes_ago=30)
    send(client, bundle, int(7.6 * GB), minutes_ago=30, event_id="repeat")  # a repeat
    send(client, bundle, int(9.1 * GB), minutes_ago=10)
    send(client, bundle, int(9.2 * GB), minutes_ago=5)
    assert [r[:3] for r in rows()] == [(K.DATA_ALERT, "email", 75), (K.DATA_ALERT, "email", 90)]


def test_reordered_reports_alert_once(client, bundle):
    send(client, bundle, 8 * GB, minutes_ago=5)
    send(client, bundle, int(7.6 * GB), minutes_ago=10)  # older, arrives later
    send(client, bundle, 8 * GB, minutes_ago=1, event_id="again")
    assert [r[:3] for r in rows()] == [(K.DATA_ALERT, "email", 75)]


def test_two_polls_of_the_same_figure_alert_once(bundle):
    figure = CarrierBundle(reference=bundle.carrier_reference, state="active",
                           unlimited=False, initial_bytes=10 * GB, remaining_bytes=2 * GB,
                           used_bytes=8 * GB, start=None, end=None)
    for _ in range(2):
        services.bundles_take_from_carrier(reports=[
            services.CarrierReport(bundle=figure, reported_at=timezone.now())])
    assert [r[:3] for r in rows()] == [(K.DATA_ALERT, "email", 75)]


def test_the_unique_row_holds_even_when_a_change_is_told_twice(bundle):
    """The receiver relies on the database for "once": the same crossing told again
    (a redelivered task, two polls racing) makes no second row."""
    from esims.signals import BundleChange
    from notifications.alerts import alerts_on_bundles_changed

    bundle.data_used_bytes = 8 * GB
    change = BundleChange(bundle=bundle, used_before=0, state_before=Bundle.State.ACTIVE,
                          period_changed=False, esim_expired=False)
    for _ in range(2):
        alerts_on_bundles_changed(sender=Bundle, changes=[change])
    assert [r[:3] for r in rows()] == [(K.DATA_ALERT, "email", 75)]


def test_a_verified_phone_gets_the_alert_by_text_too(client, bundle, alice):
    alice.phone = "+14155550123"
    alice.phone_verified_at = timezone.now()
    alice.save()
    send(client, bundle, 8 * GB)
    assert [r[:3] for r in rows()] == [(K.DATA_ALERT, "email", 75), (K.DATA_ALERT, "sms", 75)]


def test_the_customers_own_steps_replace_the_defaults(client, bundle):
    ESim.objects.filter(pk=bundle.esim_id).update(data_alert_percents=[50, 95])
    send(client, bundle, 6 * GB, minutes_ago=5)
    send(client, bundle, 8 * GB)
    assert [r[:3] for r in rows()] == [(K.DATA_ALERT, "email", 50)]


def test_an_unlimited_plan_gets_no_data_alert(bundle):
    Bundle.objects.filter(pk=bundle.pk).update(data_allowance_bytes=None)
    figure = CarrierBundle(reference=bundle.carrier_reference, state="active", unlimited=True,
                           initial_bytes=None, remaining_bytes=None, used_bytes=50 * GB,
                           start=None, end=None)
    services.bundle_update_from_carrier(reference=bundle.carrier_reference,
                                        carrier_bundle=figure, reported_at=timezone.now())
    assert Bundle.objects.get(pk=bundle.pk).data_used_bytes == 50 * GB
    assert rows() == []


def test_running_out_sends_out_of_data_and_no_data_alert(client, bundle):
    send(client, bundle, 10 * GB)
    assert [r[:3] for r in rows()] == [(K.OUT_OF_DATA, "email", 0)]
    send(client, bundle, 10 * GB, state="depleted", event_id="ended")
    # Its only plan: the eSIM has ended too. Out of data is not said twice.
    assert [r[:3] for r in rows()] == [(K.ESIM_EXPIRED, "email", 0),
                                       (K.OUT_OF_DATA, "email", 0)]


def test_a_depleted_report_is_out_of_data_even_below_the_allowance(client, bundle):
    """The carrier's figures lag: it may say depleted before its figures say so."""
    send(client, bundle, int(9.5 * GB), state="depleted")
    assert [r[:3] for r in rows()] == [(K.ESIM_EXPIRED, "email", 0),
                                       (K.OUT_OF_DATA, "email", 0)]


def test_the_last_plan_ending_sends_plan_ended_about_it(client, bundle):
    send(client, bundle, GB, state="expired")
    assert rows() == [(K.ESIM_EXPIRED, "email", 0, bundle.pk, bundle.esim_id)]
    assert ESim.objects.get(pk=bundle.esim_id).state == ESim.State.EXPIRED
    send(client, bundle, GB, state="expired", event_id="again")
    assert len(rows()) == 1


def test_a_plan_ending_with_another_waiting_is_not_plan_ended(client, bundle):
    BundleFactory(esim=bundle.esim, order__customer=bundle.esim.owner,
                  order__esim=bundle.esim, state=Bundle.State.QUEUED, starts_at=None,
                  ends_at=None)
    send(client, bundle, GB, state="expired")
    assert rows() == []
    assert ESim.objects.get(pk=bundle.esim_id).state == ESim.State.INSTALLED
