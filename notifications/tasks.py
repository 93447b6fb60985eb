from celery import shared_task

from portal.tasks import ExternalCallTask, retry_delay

from . import reminders, services


# The message itself counts its attempts and ends as failed after the last one
# (services._delivery_setback); the task only waits until it is due again.
@shared_task(base=ExternalCallTask, bind=True, retry_for=(services.DeliveryError,),
             max_retries=None, acks_late=True)
def notification_send(self, notification_id: int) -> None:
    services.notification_deliver(notification_id=notification_id)


@shared_task(acks_late=True)
def notification_send_batch(notification_ids: list[int]) -> None:
    """Many messages over one connection; any that failed and may succeed later go back
    one by one, once they are due."""
    outcome = services.notifications_deliver(notification_ids=notification_ids)
    for notification_id, error in outcome.items():
        if error is not None and error.retryable:
            notification_send.apply_async((notification_id,),
                                          countdown=retry_delay(0, retry_after=error.retry_after))


@shared_task
def notification_sweep() -> int:
    """Re-send messages whose task was lost (a broker restart, a dead worker)."""
    due = services.notification_due_for_resend()
    for notification_id in due:
        notification_send.delay(notification_id)
    return len(due)


# Each eSIM whose time has come is handled once per run however many run side by side
# (row locks skipped by the others), and a second run finds nothing left to do.
@shared_task
def reminder_sweep(max_chunks: int = 1000) -> int:
    """Ask for the expiry reminders that are due, a chunk of eSIMs per transaction,
    until none is left (at most `max_chunks`, so one run cannot go on for ever)."""
    handled = 0
    for _ in range(max_chunks):
        count = reminders.reminders_send_due()
        handled += count
        if count < reminders.SWEEP_CHUNK:
            break
    return handled
