"""Thin Celery tasks: they take ids, call a service and own the retry policy."""

import logging
from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from carrier.client import CarrierError

from . import gateway_events, services
from .gateways import GatewayRetryableError

log = logging.getLogger(__name__)

# Back off 10 s, 20 s, 40 s ... up to 5 minutes between attempts while the carrier is
# down or slow; the sweep below picks up anything whose task was lost.
RETRY_CAP_SECONDS = 300
STALLED_AFTER = timedelta(minutes=10)


def retry_countdown(retries: int) -> int:
    return min(RETRY_CAP_SECONDS, 10 * 2 ** min(retries, 10))


@shared_task(bind=True, max_retries=None, acks_late=True)
def order_activate(self, order_id: int) -> None:
    try:
        services.order_activate(order_id=order_id)
    except CarrierError as exc:
        if exc.retryable and not services.order_activation_overdue(order_id=order_id):
            log.info("order %s: carrier not ready (%s), retrying", order_id, exc)
            if self.request.is_eager:
                return  # run in-process (tests): an eager retry would not wait; the sweep will
            raise self.retry(exc=exc, countdown=retry_countdown(self.request.retries)) from exc
        services.order_activation_fail(order_id=order_id, error=exc)


@shared_task(acks_late=True)
def orders_activate(order_ids: list[int]) -> None:
    """Many paid orders at once (a batch of auto-renewals); any the carrier did not take
    goes on one by one, with the single task's back-off."""
    outcome = services.orders_activate(order_ids=order_ids)
    for order_id, exc in outcome.items():
        if exc is None:
            continue
        if exc.retryable and not services.order_activation_overdue(order_id=order_id):
            log.info("order %s: carrier not ready (%s), retrying", order_id, exc)
            order_activate.apply_async((order_id,), countdown=retry_countdown(0))
        else:
            services.order_activation_fail(order_id=order_id, error=exc)


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
    claimed = services.payment_claim_for_reconciliation(quiet_for=PAYMENT_QUIET_FOR,
                                                        give_up_after=PAYMENT_GIVE_UP_AFTER)
    for payment_id in claimed:
        services.payment_sync(payment_id=payment_id)
    # Duplicate payments whose refund task was lost or could not reach the gateway.
    for payment_id in services.payment_list_duplicates_to_refund(quiet_for=STALLED_AFTER):
        payment_refund_duplicate.delay(payment_id)
    return len(claimed)


@shared_task(bind=True, max_retries=None, acks_late=True)
def payment_refund_duplicate(self, payment_id: int) -> None:
    try:
        services.payment_refund_duplicate(payment_id=payment_id)
    except GatewayRetryableError as exc:
        log.info("payment %s: gateway not reachable for the refund (%s), retrying",
                 payment_id, exc)
        if self.request.is_eager:
            return  # run in-process (tests): the reconciliation sweep tries again
        raise self.retry(exc=exc, countdown=retry_countdown(self.request.retries)) from exc


# A webhook event not processed this long after it arrived lost its task (or keeps
# failing): the sweep queues it again.
GATEWAY_EVENT_STALE_AFTER = timedelta(minutes=5)


@shared_task(bind=True, max_retries=None, acks_late=True)
def gateway_event_process(self, event_pk: int) -> None:
    try:
        gateway_events.gateway_event_process(event_pk=event_pk)
    except GatewayRetryableError as exc:
        log.info("gateway event %s: gateway not reachable (%s), retrying", event_pk, exc)
        if self.request.is_eager:
            return  # run in-process (tests, or the web process): the sweep will retry
        raise self.retry(exc=exc, countdown=retry_countdown(self.request.retries)) from exc


@shared_task
def gateway_event_sweep() -> int:
    stale = gateway_events.gateway_event_list_unprocessed(
        received_before=timezone.now() - GATEWAY_EVENT_STALE_AFTER)
    for event_pk in stale:
        gateway_event_process.delay(event_pk)
    return len(stale)
