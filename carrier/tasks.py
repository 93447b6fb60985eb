from celery import shared_task

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
