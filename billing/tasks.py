"""Thin Celery tasks: they take ids, call a service and declare what they retry (the
policy itself is portal/tasks.py)."""

import logging
from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from carrier.client import CarrierError
from portal.tasks import ExternalCallTask, retry_delay

from . import gateway_events, services
from .gateways import GatewayError

log = logging.getLogger(__name__)

STALLED_AFTER = timedelta(minutes=10)


# A customer is waiting for this one: back off from 10 s to at most 5 minutes, and keep
# going until the order is overdue (ACTIVATION_GIVE_UP_AFTER_HOURS), when the service
# fails it for support.
@shared_task(base=ExternalCallTask, bind=True, retry_for=(CarrierError,), max_retries=None,
             retry_backoff=10, retry_backoff_max=300, acks_late=True)
def order_activate(self, order_id: int) -> None:
    services.order_activation_run(order_id=order_id)


@shared_task(acks_late=True)
def orders_activate(order_ids: list[int]) -> None:
    """Many paid orders at once (a batch of auto-renewals); any the carrier did not take
    goes on one by one, with the single task's back-off."""
    outcome = services.orders_activate(order_ids=order_ids)
    for order_id, exc in outcome.items():
        if exc is not None and services.order_activation_setback(order_id=order_id, error=exc):
            order_activate.apply_async((order_id,), countdown=retry_delay(
                0, retry_after=exc.retry_after, base=order_activate.retry_backoff,
                cap=order_activate.retry_backoff_max))


@shared_task
def order_activation_sweep() -> int:
    claimed = services.order_activation_claim_stalled(older_than=STALLED_AFTER)
    for order_id in claimed:
        order_activate.delay(order_id)
    return len(claimed)


# Ask the gateway about a payment left open this long; stop after a day (the customer
# has started a new one by then, or given up).
PAYMENT_QUIET_FOR = timedelta(minutes=2)
PAYMENT_GIVE_UP_AFTER = timedelta(days=1)


@shared_task
def payment_reconcile_sweep() -> int:
    """Hand each open payment nobody has asked the gateway about to its own task, so one
    the gateway cannot answer holds up none of the others (nor the refunds below)."""
    claimed = services.payment_claim_for_reconciliation(quiet_for=PAYMENT_QUIET_FOR,
                                                        give_up_after=PAYMENT_GIVE_UP_AFTER)
    for payment_id in claimed:
        payment_reconcile.delay(payment_id)
    # Duplicate payments whose refund task was lost or could not reach the gateway.
    for payment_id in services.payment_list_duplicates_to_refund(quiet_for=STALLED_AFTER):
        payment_refund_duplicate.delay(payment_id)
    return len(claimed)


@shared_task(base=ExternalCallTask, bind=True, retry_for=(GatewayError,), acks_late=True)
def payment_reconcile(self, payment_id: int) -> None:
    services.payment_sync(payment_id=payment_id)


@shared_task(base=ExternalCallTask, bind=True, retry_for=(GatewayError,), max_retries=None,
             acks_late=True)
def payment_refund_duplicate(self, payment_id: int) -> None:
    services.payment_refund_duplicate(payment_id=payment_id)


# A webhook event not processed this long after it arrived lost its task (or keeps
# failing): the sweep queues it again.
GATEWAY_EVENT_STALE_AFTER = timedelta(minutes=5)


@shared_task(base=ExternalCallTask, bind=True, retry_for=(GatewayError,), max_retries=None,
             acks_late=True)
def gateway_event_process(self, event_pk: int) -> None:
    gateway_events.gateway_event_process(event_pk=event_pk)


@shared_task
def gateway_event_sweep() -> int:
    stale = gateway_events.gateway_event_list_unprocessed(
        received_before=timezone.now() - GATEWAY_EVENT_STALE_AFTER)
    for event_pk in stale:
        gateway_event_process.delay(event_pk)
    return len(stale)
