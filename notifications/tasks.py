from celery import shared_task

from . import services


@shared_task(bind=True, max_retries=8, acks_late=True)
def notification_send(self, notification_id: int) -> None:
    try:
        services.notification_deliver(notification_id=notification_id)
    except services.DeliveryError as exc:
        if exc.retryable and not self.request.is_eager:
            raise self.retry(exc=exc, countdown=min(3600, 30 * 2 ** self.request.retries)) \
                from exc


@shared_task(acks_late=True)
def notification_send_batch(notification_ids: list[int]) -> None:
    """Many messages over one connection; any that failed and may succeed later go back
    one by one, with the single task's back-off."""
    outcome = services.notifications_deliver(notification_ids=notification_ids)
    for notification_id, error in outcome.items():
        if error is not None and error.retryable:
            notification_send.apply_async((notification_id,), countdown=30)


@shared_task
def notification_sweep() -> int:
    """Re-send messages whose task was lost (a broker restart, a dead worker)."""
    due = services.notification_due_for_resend()
    for notification_id in due:
        notification_send.delay(notification_id)
    return len(due)
