from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from notifications.models import Notification
from notifications.requests import notification_request

from . import ticket_states
from .attachments import Screenshot
from .models import StaffAction, Ticket, TicketMessage
from .staff import ActionDoneAlready, ActionRefused


def staff_action_record(*, actor, kind: str, order=None, esim=None, ticket=None,
                        note: str = "", outcome: str = "") -> StaffAction:
    """Record who did what and why; call it inside the action's own transaction."""
    return StaffAction.objects.create(actor=actor, kind=kind, order=order, esim=esim,
                                      ticket=ticket, note=note[:255], outcome=outcome[:255])


# The same question sent again this soon (a double click, a reload that resubmits) is
# taken as the one already sent.
REPEAT_WINDOW = timedelta(minutes=10)


def ticket_open(*, customer, subject: str, body: str, order=None, esim=None,
                screenshot: Screenshot | None = None) -> Ticket:
    """Open a ticket about an order, an eSIM or nothing, with an optional screenshot.

    One click twice makes one ticket: the same question sent again within
    REPEAT_WINDOW returns the ticket it opened. While a ticket about an order is open,
    what the customer writes about that order goes to it (a message that repeats the
    customer's last one is not added again), so support reads one story per order."""
    esim = esim or getattr(order, "esim", None)
    stored: list[str] = []
    try:
        with transaction.atomic():
            # Two requests at once for the same customer take turns here, so the second
            # sees the ticket the first opened.
            list(get_user_model().objects.select_for_update().filter(pk=customer.pk)
                 .values_list("pk"))
            if order is not None:
                existing = (Ticket.objects.select_for_update()
                            .filter(customer=customer, order=order)
                            .exclude(status=Ticket.Status.CLOSED).first())
                if existing is not None:
                    if _last_customer_body(existing) != body:
                        message = ticket_reply(ticket=existing, author=customer, body=body,
                                               from_staff=False)
                        _attach(message, screenshot, stored)
                    return existing
            else:
                repeated = (Ticket.objects
                            .filter(customer=customer, order=None, esim=esim,
                                    subject=subject[:200],
                                    created_at__gte=timezone.now() - REPEAT_WINDOW,
                                    messages__body=body, messages__from_staff=False)
                            .exclude(status=Ticket.Status.CLOSED).first())
                if repeated is not None:
                    return repeated
            ticket = Ticket.objects.create(customer=customer, order=order, esim=esim,
                                           subject=subject[:200])
            message = TicketMessage.objects.create(ticket=ticket, author=customer, body=body)
            _attach(message, screenshot, stored)
    except BaseException:
        _discard(stored)
        raise
    return ticket


def ticket_reply_from_customer(*, ticket: Ticket, author, body: str,
                               screenshot: Screenshot | None = None) -> TicketMessage:
    """The customer writes on their ticket, maybe with a screenshot (`ticket_reply`'s
    rules). The same message sent twice in a row within REPEAT_WINDOW is kept once."""
    stored: list[str] = []
    try:
        with transaction.atomic():
            Ticket.objects.select_for_update().filter(pk=ticket.pk).first()
            last = ticket.messages.order_by("-created_at", "-pk").first()
            if (last is not None and not last.from_staff and last.author_id == author.pk
                    and last.body == body
                    and last.created_at >= timezone.now() - REPEAT_WINDOW):
                return last
            message = ticket_reply(ticket=ticket, author=author, body=body, from_staff=False)
            _attach(message, screenshot, stored)
    except BaseException:
        _discard(stored)
        raise
    return message


def _last_customer_body(ticket: Ticket) -> str | None:
    return (ticket.messages.filter(from_staff=False).order_by("-created_at", "-pk")
            .values_list("body", flat=True).first())


def _attach(message: TicketMessage, screenshot: Screenshot | None, stored: list[str]) -> None:
    """Store the screenshot under a random name and keep it on the message; `stored`
    collects the file's name so that the caller can remove it if its transaction fails."""
    if screenshot is None:
        return
    message.attachment.save(screenshot.stored_name, ContentFile(screenshot.content),
                            save=False)
    stored.append(message.attachment.name or "")
    message.attachment_name = screenshot.name
    message.save(update_fields=["attachment", "attachment_name"])


def _discard(names: list[str]) -> None:
    for name in names:
        default_storage.delete(name)


@transaction.atomic
def ticket_reply(*, ticket: Ticket, author, body: str, from_staff: bool, reason: str = "",
                 since_message: int | None = None) -> TicketMessage:
    """Add a message: support's answers the ticket (and tells the customer), the
    customer's puts it back in support's queue. Raises TransitionNotAllowed, writing
    nothing, when the customer writes on a closed ticket (support/ticket_states.py).

    Support's reply is a staff action: who (`author`) and why (`reason`) are recorded
    with the ticket in the same transaction. With `since_message` (the latest message
    the agent had read when writing), the reply is refused, writing nothing, when the
    ticket has a newer one: ActionDoneAlready when it is support's (the same form sent
    twice, or a colleague answered), ActionRefused when the customer wrote again."""
    now = timezone.now()
    if since_message is not None:
        Ticket.objects.select_for_update().filter(pk=ticket.pk).first()
        newer = ticket.messages.filter(pk__gt=since_message).order_by("-pk").first()
        if newer is not None and newer.from_staff:
            raise ActionDoneAlready(_("Answered already since this form was opened, by "
                                      "%(author)s. Nothing was sent again.")
                                    % {"author": newer.author})
        if newer is not None:
            raise ActionRefused(_("The customer wrote again since this form was opened: "
                                  "read their message, then reply."))
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
        staff_action_record(actor=author, kind=StaffAction.Kind.TICKET_REPLY, ticket=ticket,
                            order=ticket.order, esim=ticket.esim, note=reason,
                            outcome=f"message {message.pk}")
    return message


def tickets_close(*, tickets: QuerySet[Ticket]) -> int:
    """Support closes these tickets (those not closed already); returns how many."""
    return ticket_states.tickets_close(tickets=tickets, at=timezone.now())
