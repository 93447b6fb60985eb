"""One retry policy for every task that calls an outside system.

A task declares what it retries and nothing else:

    @shared_task(base=ExternalCallTask, bind=True, retry_for=(CarrierError,))
    def esim_sync(self, esim_id): ...

When the work raises one of `retry_for` (an `ExternalError`, portal/errors.py) that says a
retry can help, the task is retried after `retry_delay()`: exponential back-off from
TASK_RETRY_BACKOFF_SECONDS, capped at TASK_RETRY_BACKOFF_MAX_SECONDS, never sooner than
the other side's Retry-After, at most TASK_RETRY_MAX_ATTEMPTS times. Celery's own
attribute names carry the numbers (`retry_backoff`, `retry_backoff_max`, `max_retries`),
so a task whose customer is waiting (an activation) may declare a shorter cap. A failure
that no retry can help is logged and the task ends: the service beneath has already
recorded what it means (an order failed for support, a message marked failed).

Retrying is safe because every external call carries an identifier the other side
deduplicates on; a task lost for good (a broker restart) is found by its sweep.
"""

from __future__ import annotations

import logging

from celery import Task
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings

from .errors import ExternalError

log = logging.getLogger(__name__)


def retry_delay(attempt: int, *, retry_after: float | None = None,
                base: int | None = None, cap: int | None = None) -> int:
    """Seconds to wait before retry number `attempt + 1` (attempt 0 is the first retry):
    exponential from the policy's base, capped, and never less than what the other side
    asked for. Messages (notifications/services.py) back off with the same function."""
    delay = get_exponential_backoff_interval(
        factor=base if base is not None else settings.TASK_RETRY_BACKOFF_SECONDS,
        retries=min(attempt, 20),
        maximum=cap if cap is not None else settings.TASK_RETRY_BACKOFF_MAX_SECONDS)
    if retry_after is not None:
        delay = max(delay, int(retry_after + 0.999))
    return delay


class ExternalCallTask(Task):
    """Base task: retries its work while `retry_for` errors say a retry can help."""

    abstract = True
    retry_for: tuple[type[ExternalError], ...] = (ExternalError,)

    def __init__(self) -> None:
        super().__init__()
        # Read from settings when the task is made (after Django is set up), unless the
        # task declared its own.
        if "retry_backoff" not in vars(type(self)):
            self.retry_backoff = settings.TASK_RETRY_BACKOFF_SECONDS
        if "retry_backoff_max" not in vars(type(self)):
            self.retry_backoff_max = settings.TASK_RETRY_BACKOFF_MAX_SECONDS
        if "max_retries" not in vars(type(self)):
            self.max_retries = settings.TASK_RETRY_MAX_ATTEMPTS

    def __call__(self, *args, **kwargs):
        # Celery's tracer has pushed this run's request (retries, is_eager) already;
        # Task.__call__ would push a blank one over it, so run the body directly, as
        # Celery's own guide to custom base tasks does.
        try:
            return self.run(*args, **kwargs)
        except self.retry_for as exc:
            if not exc.retryable:
                log.warning("%s%r gave up: %s", self.name, args, exc)
                return None
            if self.request.is_eager:
                # Run in-process (tests, or CELERY_TASK_ALWAYS_EAGER): an eager retry
                # would not wait. The item's sweep takes it up again.
                log.info("%s%r not retried in-process: %s", self.name, args, exc)
                return None
            countdown = retry_delay(self.request.retries, retry_after=exc.retry_after,
                                    base=int(self.retry_backoff),
                                    cap=int(self.retry_backoff_max))
            log.info("%s%r retrying in %ss: %s", self.name, args, countdown, exc)
            raise self.retry(exc=exc, countdown=countdown) from exc
