"""Asking for messages to go out: one row per channel, written before anything is sent.

Called inside the transaction of the event (an order paid, a plan ending, data running
low), so a message exists if and only if the event happened. Each row is unique for its
(kind, channel, what it is about, step) in the database, so a repeated event, a sweep
run twice or two sweeps side by side ask for nothing twice (`_create_missing`); the rows
this call made are handed to a worker once the transaction commits.

Which channels: those the kind goes out on (notifications/kinds.py) that the customer
has not switched off; SMS only to a verified number; email not to an address that
bounced. A text due in the customer's night is held until morning (notifications/quiet.py).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from .kinds import EMAIL, KIND_CHANNELS, SMS
from .models import ChannelSetting, Notification
from .quiet import sms_send_time

# The fields a message can be about; exactly one names it (with `threshold` for bundles).
_SUBJECTS = ("order_id", "payment_id", "ticket_message_id", "bundle_id")


@dataclass(frozen=True)
class About:
    """What one message is about, and whom it is for."""

    customer_id: int
    order_id: int | None = None
    payment_id: int | None = None
    ticket_message_id: int | None = None
    bundle_id: int | None = None
    esim_id: int | None = None
    threshold: int = 0

    @property
    def subject(self) -> tuple[str, int]:
        for name in _SUBJECTS:
            value = getattr(self, name)
            if value is not None:
                return name, value
        raise ValueError("a message must be about an order, payment, reply or bundle")


def channels_for(*, customer, kind: str, chosen: dict[str, bool]) -> list[str]:
    """The channels a message of this kind goes to this customer on now. `chosen` is the
    customer's settings for the kind ({channel: on}; a channel not in it is at its
    default)."""
    channels = []
    for channel, default in KIND_CHANNELS.get(kind, {}).items():
        if not chosen.get(channel, default):
            continue
        if channel == SMS and not (customer.phone and customer.phone_verified_at):
            continue
        if channel == EMAIL and customer.email_undeliverable_at is not None:
            continue
        channels.append(channel)
    return channels


def notifications_request(*, kind: str, about: Sequence[About],
                          now: datetime | None = None) -> list[int]:
    """Ask for a message of `kind` about each of `about`, on each channel its customer
    gets it on. Returns the ids of the rows this call made (none for what was asked
    before). Three queries whatever the number, and one task per hundred messages."""
    if not about:
        return []
    now = now or timezone.now()
    customer_ids = {item.customer_id for item in about}
    customers = {c.pk: c for c in get_user_model().objects.filter(pk__in=customer_ids).only(
        "pk", "phone", "phone_verified_at", "time_zone", "email_undeliverable_at")}
    chosen: dict[int, dict[str, bool]] = {}
    for customer_id, channel, enabled in ChannelSetting.objects.filter(
            customer_id__in=customer_ids, kind=kind).values_list("customer_id", "channel",
                                                                  "enabled"):
        chosen.setdefault(customer_id, {})[channel] = enabled
    rows = []
    for item in about:
        customer = customers.get(item.customer_id)
        if customer is None:
            continue
        for channel in channels_for(customer=customer, kind=kind,
                                    chosen=chosen.get(customer.pk, {})):
            due = sms_send_time(now, time_zone=customer.time_zone) if channel == SMS else now
            rows.append(Notification(
                customer_id=customer.pk, kind=kind, channel=channel, order_id=item.order_id,
                payment_id=item.payment_id, ticket_message_id=item.ticket_message_id,
                bundle_id=item.bundle_id, esim_id=item.esim_id, threshold=item.threshold,
                created_at=now, next_attempt_at=due))
    if not rows:
        return []
    made = _create_missing(kind=kind, rows=rows)
    due_now = [row.pk for row in made if row.next_attempt_at <= now]
    if due_now:
        transaction.on_commit(lambda: _enqueue(due_now))
    return [row.pk for row in made]


# How often a batch is tried again after a racing request made some of its rows.
_RACE_RETRIES = 3


def _create_missing(*, kind: str, rows: list[Notification]) -> list[Notification]:
    """Insert the rows not asked for before, and return them. Rows asked for before are
    read first; a request racing this one (another sweep) may insert some in between,
    which the unique constraints refuse: the batch is rolled back to its savepoint and
    the rows read again, so each message is made once and this call returns only its
    own."""
    for _attempt in range(_RACE_RETRIES):
        asked = _asked_before(kind=kind, rows=rows)
        fresh = [row for row in rows if _key(row) not in asked]
        if not fresh:
            return []
        try:
            with transaction.atomic():
                return Notification.objects.bulk_create(fresh)
        except IntegrityError:
            continue
    raise IntegrityError(f"{kind}: messages kept being made by another request")


def _key(row: Notification) -> tuple:
    """What makes a message unique (notifications/models.py): its subject and step, on
    its channel."""
    return (row.order_id, row.payment_id, row.ticket_message_id, row.bundle_id,
            row.threshold if row.bundle_id else 0, row.channel)


def _asked_before(*, kind: str, rows: list[Notification]) -> set[tuple]:
    """The keys of the messages of `kind` about the same things that exist already."""
    subjects: dict[str, set[int]] = {}
    for row in rows:
        for name in _SUBJECTS:
            if getattr(row, name) is not None:
                subjects.setdefault(name, set()).add(getattr(row, name))
                break
    asked: set[tuple] = set()
    for name, values in subjects.items():
        for found in Notification.objects.filter(kind=kind, **{f"{name}__in": values}).only(
                "order_id", "payment_id", "ticket_message_id", "bundle_id", "threshold",
                "channel"):
            asked.add(_key(found))
    return asked


def _enqueue(notification_ids: list[int]) -> None:
    from .tasks import notification_send, notification_send_batch

    if len(notification_ids) == 1:
        notification_send.delay(notification_ids[0])
        return
    for start in range(0, len(notification_ids), SEND_BATCH):
        notification_send_batch.delay(notification_ids[start:start + SEND_BATCH])


# Messages handed to one task: one database round for the lot, one mail connection.
SEND_BATCH = 100


# --- The events that exist today, each about one thing.

def notification_request(*, kind: str, ticket_message=None, bundle=None,
                         payment=None, threshold: int = 0) -> list[int]:
    """Ask for one message about this support reply, bundle or payment attempt."""
    if ticket_message is not None:
        about = About(customer_id=ticket_message.ticket.customer_id,
                      ticket_message_id=ticket_message.pk)
    elif bundle is not None:
        about = About(customer_id=bundle.esim.owner_id, bundle_id=bundle.pk,
                      esim_id=bundle.esim_id, threshold=threshold)
    else:
        about = About(customer_id=payment.order.customer_id, payment_id=payment.pk,
                      esim_id=payment.order.esim_id)
    return notifications_request(kind=kind, about=[about])


def notifications_request_for_orders(*, kind: str, orders) -> list[int]:
    """A message of `kind` about each order (paid, ready), in the caller's transaction."""
    return notifications_request(kind=kind, about=[
        About(customer_id=order.customer_id, order_id=order.pk, esim_id=order.esim_id)
        for order in orders])
