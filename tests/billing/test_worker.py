"""The provisioning task on a real Celery worker, with Redis as the broker."""

import time

import pytest

from billing import tasks
from billing.models import Order
from esims.models import Bundle, ESim
from tests import services
from tests.factories import paid_new_esim_order

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def redis_worker(settings):
    services.need(services.redis_available(), "Redis (for a real Celery worker)")
    from celery.contrib.testing.worker import start_worker

    from portal.celery import app

    saved = {key: app.conf[key] for key in ("broker_url", "task_always_eager",
                                            "broker_transport_options")}
    app.conf.update(broker_url=services.REDIS_URL, task_always_eager=False,
                    broker_transport_options={})
    _drop_connections(app)  # made for the in-memory broker of the eager tests
    app.control.purge()
    try:
        with start_worker(app, pool="threads", concurrency=4, perform_ping_check=False,
                          shutdown_timeout=15, loglevel="WARNING") as worker:
            yield worker
    finally:
        app.conf.update(saved)
        _drop_connections(app)


def _drop_connections(app):
    app._pool = None
    app.amqp._producer_pool = None


def wait_for(predicate, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False



def test_worker_provisions_a_paid_order(redis_worker, carrier, alice):
    order = paid_new_esim_order(alice)
    tasks.order_activate.delay(order.pk)
    assert wait_for(lambda: Order.objects.get(pk=order.pk).status == Order.Status.COMPLETED)
    assert ESim.objects.get(pk=order.esim_id).state == ESim.State.READY


def test_task_delivered_many_times_at_once_acts_once(redis_worker, carrier, alice):
    order = paid_new_esim_order(alice)
    for _ in range(5):
        tasks.order_activate.delay(order.pk)
    assert wait_for(lambda: Order.objects.get(pk=order.pk).status == Order.Status.COMPLETED)
    time.sleep(1)  # let the other deliveries finish
    esim = ESim.objects.get(pk=order.esim_id)
    assert Bundle.objects.filter(esim=esim).count() == 1
    carrier_bundles = carrier.app.test_client().get(
        f"/api/v1/esims/{esim.iccid}/bundles", headers={"X-API-Key": carrier.api_key}).json
    assert len(carrier_bundles["bundles"]) == 1


def test_worker_retries_while_the_carrier_is_down(redis_worker, carrier, alice, monkeypatch):
    monkeypatch.setattr(tasks.order_activate, "retry_backoff", 1)
    monkeypatch.setattr(tasks.order_activate, "retry_backoff_max", 1)
    carrier.configure(failure_rate=1.0)
    order = paid_new_esim_order(alice)
    tasks.order_activate.delay(order.pk)
    assert wait_for(lambda: Order.objects.get(pk=order.pk).activation_attempts >= 2)
    assert Order.objects.get(pk=order.pk).status == Order.Status.ACTIVATING
    carrier.configure(failure_rate=0.0)
    assert wait_for(lambda: Order.objects.get(pk=order.pk).status == Order.Status.COMPLETED)
