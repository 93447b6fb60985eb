"""Auto-renewal runs racing each other, on PostgreSQL and on a real Celery worker."""

from datetime import timedelta

import pytest
from django.db import connection

from billing.models import Order, Payment, Receipt, SimulatedCharge
from esims.models import ESim
from renewals import services, tasks
from tests import services as machine
from tests.billing.test_concurrency import race
from tests.billing.test_worker import redis_worker, wait_for  # noqa: F401 (fixture)
from tests.factories import auto_renewing_esim

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _postgresql_only():
    machine.need(connection.vendor == "postgresql", "PostgreSQL (row locks under real races)")


def off_session_charges():
    return SimulatedCharge.objects.filter(idempotency_key__isnull=False).count()


def test_concurrent_runs_for_one_esim_make_one_charge(alice):
    esim = auto_renewing_esim(alice, ends_in=timedelta(hours=1))
    results, errors = race(lambda: services.renewal_run(esim_id=esim.pk), times=6)
    assert errors == []
    assert results.count("paid") >= 1 and set(results) <= {"paid", "busy", "renewed"}
    order = Order.objects.get(kind=Order.Kind.RENEWAL)
    assert order.payments.count() == 1 and order.paid_at is not None
    assert off_session_charges() == 1


def test_batches_racing_each_other_and_single_runs_charge_each_esim_once(alice):
    esims = [auto_renewing_esim(alice, ends_in=timedelta(hours=1)) for _ in range(8)]
    ids = [e.pk for e in esims]
    turns = iter(range(6))

    def run():
        turn = next(turns)
        if turn % 2:
            return services.renewal_run_many(esim_ids=ids[::-1] if turn % 3 else ids)
        return {pk: services.renewal_run(esim_id=pk) for pk in ids}

    results, errors = race(run, times=6)
    assert errors == []
    orders = Order.objects.filter(kind=Order.Kind.RENEWAL)
    assert orders.count() == 8 and not orders.filter(paid_at=None).exists()
    assert Payment.objects.count() == 8 and off_session_charges() == 8
    assert sorted(Receipt.objects.values_list("sequence", flat=True)) == list(range(1, 9))


def test_racing_batches_of_messages_send_each_once(alice):
    from django.core import mail

    from notifications.models import DeliveryAttempt, Notification
    from notifications.services import notifications_deliver

    esims = [auto_renewing_esim(alice, ends_in=timedelta(hours=1)) for _ in range(6)]
    services.renewal_run_many(esim_ids=[e.pk for e in esims])
    Notification.objects.update(status=Notification.Status.PENDING)  # none sent yet
    DeliveryAttempt.objects.all().delete()
    mail.outbox.clear()
    ids = list(Notification.objects.values_list("pk", flat=True))
    results, errors = race(lambda: notifications_deliver(notification_ids=ids), times=4)
    assert errors == []
    assert sorted(pk for outcome in results for pk in outcome) == sorted(ids)
    assert len(mail.outbox) == len(ids) == DeliveryAttempt.objects.count()


def test_racing_sweeps_claim_each_due_esim_once(alice):
    esims = [auto_renewing_esim(alice, ends_in=timedelta(hours=2)) for _ in range(30)]
    results, errors = race(lambda: services.renewal_claim_due(limit=10), times=5)
    claimed = [pk for batch in results for pk in batch]
    assert errors == [] and sorted(claimed) == sorted(e.pk for e in esims)


@pytest.mark.celery_worker
def test_the_renewal_task_delivered_many_times_charges_once(redis_worker, alice):  # noqa: F811
    esim = auto_renewing_esim(alice, ends_in=timedelta(hours=1))
    for _ in range(5):
        tasks.renewal_run.delay(esim.pk)
    tasks.renewal_run_batch.delay([esim.pk, esim.pk])
    assert wait_for(lambda: Payment.objects.filter(status="succeeded").exists())
    assert wait_for(lambda: ESim.objects.get(pk=esim.pk).renew_at is None)
    assert off_session_charges() == 1
    assert Order.objects.filter(kind=Order.Kind.RENEWAL).count() == 1
