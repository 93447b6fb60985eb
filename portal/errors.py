"""One error contract for every system outside the portal.

The carrier (`carrier/client.py`), the payment gateways (`billing/gateways/`) and the mail
server (`notifications/services.py`) each map their failures to a subclass of
`ExternalError` in one place, so that everything above them (services, tasks, sweeps)
decides what a failure means with the same two questions:

- `retryable`: can the same call, made again later, succeed? A timeout, a refused
  connection, "busy", a 5xx or a 429 can; a refusal (a 4xx, an unknown ICCID, a declined
  card, a mailbox that does not exist) cannot, and is shown to support instead.
- `retry_after`: where the other side said how long to wait (a 429's or 503's
  Retry-After), that many seconds; otherwise None and the retry policy
  (`portal/tasks.py`) picks the wait.

Every call carries an identifier the other side deduplicates on (an ES2+ function call
identifier, a bundle reference, a payment's idempotency key, a claimed message), so a
retry never does the thing twice. See docs/errors-and-retries.md.
"""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime

from django.db import connection

# A Retry-After longer than this is taken as this: a server asking for a day's pause
# must not park a customer's activation for a day without anyone noticing.
RETRY_AFTER_CAP_SECONDS = 3600


class ExternalError(Exception):
    """A call to an outside system failed. `retryable` says whether the same call later
    can help; `retry_after` (seconds) is how long the other side asked us to wait;
    `code` is a short machine-readable reason for logs and support."""

    retryable: bool = False

    def __init__(self, message: str, *, code: str = "", retryable: bool | None = None,
                 retry_after: float | None = None):
        super().__init__(message)
        self.code = code
        if retryable is not None:
            self.retryable = retryable
        self.retry_after = retry_after


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """The wait a Retry-After header asks for (seconds or an HTTP date), None when absent
    or unreadable, and at most RETRY_AFTER_CAP_SECONDS."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        seconds = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, min(seconds, RETRY_AFTER_CAP_SECONDS))


class CallInsideTransaction(RuntimeError):
    """An outside system was called while a database transaction was open: its row locks
    would be held for as long as the other side takes to answer (seconds, or a timeout),
    and a rollback afterwards would forget what the other side did."""


def ensure_outside_transaction(system: str) -> None:
    """Raise CallInsideTransaction if a database transaction is open. The test-suite's
    own wrapping transaction (Django's TestCase) does not count."""
    if connection.in_atomic_block and any(
            not getattr(block, "_from_testcase", False) for block in connection.atomic_blocks):
        raise CallInsideTransaction(f"{system} called inside a database transaction")
