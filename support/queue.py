"""What needs a human: the support desk's queue.

Each kind of item is one condition, written once here, used both for the count on the
admin's index (portal/admin.py) and for the admin list it links to, so that the link
lands on exactly the rows counted:

- an activation stuck: an order paid (or being applied at the carrier) for longer than
  `ACTIVATION_STUCK_MINUTES` and still not completed;
- an activation failed: the carrier refused, or kept failing; the order waits for
  support to retry or refund it (billing/order_states.py);
- a refund the gateway (or the carrier) refused: `refund_failed_at` set on an order not
  refunded since;
- a message to a customer that failed for good;
- a ticket waiting for an answer (open), the longest-waiting first.

Each count is one query on a partial index (billing/models.py, notifications/models.py,
support/models.py), so the index page stays cheap however large the tables grow.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from billing.models import Order
from notifications.models import Notification

from .models import Ticket

STUCK = "stuck"
FAILED = "failed"
REFUND_REFUSED = "refund_refused"


def stuck_since(now: datetime | None = None) -> datetime:
    """Orders paid before this time and not completed are stuck."""
    return (now or timezone.now()) - timedelta(minutes=settings.ACTIVATION_STUCK_MINUTES)


def order_attention(kind: str, *, now: datetime | None = None) -> Q:
    """The condition on Order of one kind of item (STUCK, FAILED, REFUND_REFUSED)."""
    if kind == STUCK:
        return Q(status__in=[Order.Status.PAID, Order.Status.ACTIVATING],
                 paid_at__lt=stuck_since(now))
    if kind == FAILED:
        return Q(status=Order.Status.FAILED)
    if kind == REFUND_REFUSED:
        return Q(refund_failed_at__isnull=False) & ~Q(status=Order.Status.REFUNDED)
    raise ValueError(kind)


def orders_needing_attention(kind: str, *, now: datetime | None = None) -> QuerySet[Order]:
    return Order.objects.filter(order_attention(kind, now=now))


def notifications_failed() -> QuerySet[Notification]:
    return Notification.objects.filter(status=Notification.Status.FAILED)


def tickets_waiting() -> QuerySet[Ticket]:
    """Open tickets, the one waiting longest first."""
    return Ticket.objects.filter(status=Ticket.Status.OPEN).order_by("updated_at", "pk")
