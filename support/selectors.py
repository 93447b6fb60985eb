from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from .models import Ticket, TicketMessage


def ticket_list_for_customer(*, customer) -> QuerySet[Ticket]:
    """The customer's questions, the latest change first."""
    return Ticket.objects.filter(customer=customer).select_related("order")


def ticket_get_for_customer(*, customer, pk: int) -> Ticket:
    """Another customer's ticket is a 404."""
    return get_object_or_404(Ticket.objects.select_related("order"), customer=customer, pk=pk)


def ticket_messages(*, ticket: Ticket) -> QuerySet[TicketMessage]:
    """The conversation in the order it was written."""
    return ticket.messages.select_related("author")
