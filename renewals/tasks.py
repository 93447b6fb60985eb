"""Thin tasks around the auto-renewal services: they take ids and own the retry policy."""

import logging

from celery import shared_task

from billing.gateways import GatewayError
from portal.tasks import ExternalCallTask, retry_delay

from . import services

log = logging.getLogger(__name__)

# eSIMs handed to one task: their renewals are ordered, charged and recorded as a set,
# in a few statements for the lot; a batch redelivered is harmless (each cycle has one
# order, each attempt one charge).
BATCH_SIZE = 100
CLAIM_CHUNK = 1000


# One sweep hands out at most this many; the next beat takes the rest.
SWEEP_MAX = 100_000


@shared_task
def renewal_sweep() -> int:
    """Hand every due eSIM to the workers, a claimed chunk at a time, so that a busy
    morning is not rationed to one chunk per beat."""
    total = 0
    while total < SWEEP_MAX:
        claimed = services.renewal_claim_due(limit=CLAIM_CHUNK)
        for start in range(0, len(claimed), BATCH_SIZE):
            renewal_run_batch.delay(claimed[start:start + BATCH_SIZE])
        total += len(claimed)
        if len(claimed) < CLAIM_CHUNK:
            break
    return total


@shared_task(acks_late=True)
def renewal_run_batch(esim_ids: list[int]) -> None:
    outcome = services.renewal_run_many(esim_ids=esim_ids)
    for esim_id, done in outcome.items():
        if done == services.RenewalOutcome.GATEWAY_UNREACHABLE:  # one by one, with back-off
            renewal_run.apply_async((esim_id,), countdown=retry_delay(0))


# Same payment row, same idempotency key: a retry can never charge twice. If every retry
# fails, the claim lease runs out and the sweep takes it up again.
@shared_task(base=ExternalCallTask, bind=True, retry_for=(GatewayError,), acks_late=True)
def renewal_run(self, esim_id: int) -> services.RenewalOutcome:
    return services.renewal_run(esim_id=esim_id)


@shared_task
def renewal_notice_sweep() -> int:
    """Every notice due, a chunk (one transaction) at a time."""
    total = 0
    while total < SWEEP_MAX:
        handled = services.renewal_notices_send_due(limit=CLAIM_CHUNK)
        total += handled
        if handled < CLAIM_CHUNK:
            break
    return total
