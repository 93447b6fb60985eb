from datetime import timedelta

from celery import shared_task
from django.conf import settings

from esims import services as esim_services
from portal.tasks import ExternalCallTask

from .client import CarrierError


# Usage reports keep coming and the reconcile sweep asks again: a sync that keeps failing
# only delays the figures on screen, so it gives up after a few tries.
@shared_task(base=ExternalCallTask, bind=True, retry_for=(CarrierError,), max_retries=5,
             acks_late=True)
def esim_sync(self, esim_id: int) -> None:
    esim_services.esim_sync_from_carrier(esim_id=esim_id)


@shared_task
def esim_reconcile_sweep() -> int:
    """Ask the carrier about eSIMs we have not heard of for a while (lost callbacks)."""
    claimed = esim_services.esim_claim_for_reconciliation(
        older_than=timedelta(minutes=settings.CARRIER_RECONCILE_MINUTES))
    for esim_id in claimed:
        esim_sync.delay(esim_id)
    return len(claimed)
