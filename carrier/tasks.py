from datetime import timedelta

from celery import shared_task
from django.conf import settings

from esims import services as esim_services

from .client import CarrierError


@shared_task(bind=True, max_retries=5, acks_late=True)
def esim_sync(self, esim_id: int) -> None:
    try:
        esim_services.esim_sync_from_carrier(esim_id=esim_id)
    except CarrierError as exc:
        if exc.retryable and not self.request.is_eager:
            raise self.retry(exc=exc, countdown=30 * (self.request.retries + 1)) from exc
        # Usage reports keep coming; a missed sync only delays the figures on screen.


@shared_task
def esim_reconcile_sweep() -> int:
    """Ask the carrier about eSIMs we have not heard of for a while (lost callbacks)."""
    claimed = esim_services.esim_claim_for_reconciliation(
        older_than=timedelta(minutes=settings.CARRIER_RECONCILE_MINUTES))
    for esim_id in claimed:
        esim_sync.delay(esim_id)
    return len(claimed)
