"""Support asks for a message again (the admin's "Resend").

Only a message that failed is asked again: it goes back to pending with its attempts
reset, due now (an SMS in the customer's quiet hours waits for the morning, as when it was
first asked for), and a worker sends it once the change is committed. A message already
sent is never sent again from here: the customer has it, and a second copy would be a
second message about the same step, which the one-per-step rule of the Notification
forbids. One that is pending or being sent is on its way already.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial

from django.db import transaction
from django.utils import timezone

from .models import Notification
from .quiet import sms_send_time
from .states import NOTIFICATION


@dataclass
class ResendOutcome:
    """The messages asked again, and those left alone because they were sent already or
    are on their way."""

    resent: list[int] = field(default_factory=list)
    already_sent: list[int] = field(default_factory=list)
    on_their_way: list[int] = field(default_factory=list)


def notifications_resend(*, notification_ids: Iterable[int]) -> ResendOutcome:
    """Move each failed message back to pending with no attempts, and send it after the
    commit. Each is locked first, so two clicks at once resend it once."""
    from .tasks import notification_send

    outcome = ResendOutcome()
    now = timezone.now()
    with transaction.atomic():
        rows = (Notification.objects.select_for_update(of=("self",))
                .select_related("customer").filter(pk__in=list(notification_ids))
                .order_by("pk"))
        for notification in rows:
            if notification.status == Notification.Status.SENT:
                outcome.already_sent.append(notification.pk)
                continue
            if notification.status != Notification.Status.FAILED:
                outcome.on_their_way.append(notification.pk)
                continue
            due = now
            if notification.channel == Notification.Channel.SMS:
                due = sms_send_time(now, time_zone=notification.customer.time_zone)
            NOTIFICATION.move_one(notification.pk, to=Notification.Status.PENDING,
                                  attempt_count=0, next_attempt_at=due, claimed_at=None)
            outcome.resent.append(notification.pk)
            # A text held for the morning is sent by the sweep once due.
            if due <= now:
                transaction.on_commit(partial(notification_send.delay, notification.pk))
    return outcome
