"""Every move of a support Ticket, and nothing else (portal/states.py).

    open ──support replies──▶ answered ──the customer replies──▶ open
    open, answered ──support closes──▶ closed ──support writes on it──▶ answered
    open ──▶ open:          the customer writes again before support answers
    answered ──▶ answered:  support writes again
    A closed ticket takes no reply from the customer (they ask a new question).

Each move stamps its time: `answered_at` with support's reply, `closed_at` while closed
(support/models.py holds the status to them with check constraints).
"""

from datetime import datetime

from django.db.models import QuerySet

from portal.states import StateMachine

from .models import Ticket

S = Ticket.Status

TICKET = StateMachine("Ticket", Ticket, initial=(S.OPEN,), table={
    S.OPEN: (S.OPEN, S.ANSWERED, S.CLOSED),
    S.ANSWERED: (S.OPEN, S.ANSWERED, S.CLOSED),
    S.CLOSED: (S.ANSWERED,),
})


def ticket_mark_answered(*, ticket_id: int, at: datetime) -> None:
    """open, answered or closed → answered: support replied (a closed ticket is open to
    the customer again)."""
    TICKET.move_one(ticket_id, to=S.ANSWERED, answered_at=at, closed_at=None, updated_at=at)


def ticket_mark_open(*, ticket_id: int, at: datetime) -> None:
    """open or answered → open: the customer wrote, and it waits for support. Raises
    TransitionNotAllowed when the ticket is closed."""
    TICKET.move_one(ticket_id, to=S.OPEN, updated_at=at)


def tickets_close(*, tickets: QuerySet[Ticket], at: datetime) -> int:
    """open or answered → closed, in one UPDATE; returns how many moved (one closed
    already stays as it is)."""
    return TICKET.move(tickets, to=S.CLOSED, closed_at=at, updated_at=at)
