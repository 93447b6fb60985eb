from datetime import timedelta

from celery import shared_task
from django.conf import settings

from esims import services as esim_services
from portal.tasks import ExternalCallTask

from .client import QUERY_BATCH, CarrierError


# A sync that keeps failing only delays the figures on screen (the usage poll asks again),
# so it gives up after a few tries.
@shared_task(base=ExternalCallTask, bind=True, retry_for=(CarrierError,), max_retries=5,
             acks_late=True)
def esim_sync(self, esim_id: int) -> None:
    esim_services.esim_sync_from_carrier(esim_id=esim_id)


@shared_task(base=ExternalCallTask, bind=True, retry_for=(CarrierError,), max_retries=5,
             acks_late=True)
def usage_poll(self, esim_ids: list[int]) -> int:
    """One carrier call for up to a hundred eSIMs, answers taken in together. Repeating
    it is harmless: usage only moves forward and a state moves once."""
    return esim_services.esims_poll_carrier(esim_ids=esim_ids)


@shared_task
def usage_poll_sweep() -> int:
    """The usage feed: claim the eSIMs with a plan running or waiting (and those ready
    to install) not asked about for USAGE_POLL_MINUTES, and hand them to `usage_poll` a
    hundred at a time. Also makes up for callbacks the carrier never delivered."""
    claimed = esim_services.esims_claim_for_usage_poll(
        older_than=timedelta(minutes=settings.USAGE_POLL_MINUTES))
    for start in range(0, len(claimed), QUERY_BATCH):
        usage_poll.delay(claimed[start:start + QUERY_BATCH])
    return len(claimed)
