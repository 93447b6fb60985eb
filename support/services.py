from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from notifications.models import Notification
from notifications.requests import notification_request

from . import ticket_states
from .models import StaffAction, Ticket, TicketMessage


def staff_action_record(*, actor, kind: str, order=None, esim=None, ticket=None,
                        note: str = "", outcome: str = "") -> StaffAction:
    """Record who did what and why; call it inside the action's own transaction."""
    return StaffAction.objects.create(actor=actor, kind=kind, order=order, esim=esim,
                                      ticket=ticket, note=note[:255], outcome=outcome[:255])


def ticket_open(*, customer, subject: str, body: str, order=None, esim=None) -> Ticket:
    """Open a ticket, or return the open one already about this order (one click twice
    makes one ticket)."""
    with transaction.atomic():
        if order is not None:
            existing = (Ticket.objects.select_for_update()
                        .filter(customer=customer, order=order)
                        .exclude(status=Ticket.Status.CLOSED).first())
            if existing is not None:
                return existing
        ticket = Ticket.objects.create(customer=customer, order=order,
                                       esim=esim or getattr(order, "esim", None),
                                       subject=subject[:200])
        TicketMessage.objects.create(ticket=ticket, author=customer, body=body)
    return ticket


@transaction.atomic
def ticket_reply(*, ticket: Ticket, author, body: str, from_staff: bool) -> TicketMessage:
    """Add a message: support's answers the ticket (and tells the customer), the
    customer's puts it back in support's queue. Raises TransitionNotAllowed, writing
    nothing, when the customer writes on a closed ticket (support/ticket_states.py)."""
    now = timezone.now()
    if from_staff:
        ticket_states.ticket_mark_answered(ticket_id=ticket.pk, at=now)
        ticket.status, ticket.answered_at, ticket.closed_at = Ticket.Status.ANSWERED, now, None
    else:
        ticket_states.ticket_mark_open(ticket_id=ticket.pk, at=now)
        ticket.status = Ticket.Status.OPEN
    ticket.updated_at = now
    message = TicketMessage.objects.create(ticket=ticket, author=author, body=body,
                                           from_staff=from_staff, created_at=now)
    if from_staff:
        notification_request(kind=Notification.Kind.SUPPORT_REPLIED, ticket_message=message)
    return message


def tickets_close(*, tickets: QuerySet[Ticket]) -> int:
    """Support closes these tickets (those not closed already); returns how many."""
    return ticket_states.tickets_close(tickets=tickets, at=timezone.now())
