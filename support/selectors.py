from django.db.models import QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404

from billing.models import Order
from esims.models import ESim

from .models import Ticket, TicketMessage


def ticket_list_for_customer(*, customer) -> QuerySet[Ticket]:
    """The customer's questions, the latest change first."""
    return Ticket.objects.filter(customer=customer).select_related("order", "esim")


def ticket_get_for_customer(*, customer, pk: int) -> Ticket:
    """Another customer's ticket is a 404."""
    return get_object_or_404(Ticket.objects.select_related("order", "esim"), customer=customer,
                             pk=pk)


def ticket_messages(*, ticket: Ticket) -> QuerySet[TicketMessage]:
    """The conversation in the order it was written."""
    return ticket.messages.select_related("author")


# How many of the customer's latest orders the "about" list offers.
TICKET_ORDER_CHOICES = 30


def ticket_subjects_for_customer(*, customer) -> tuple[QuerySet[ESim], QuerySet[Order]]:
    """What a new ticket can be about: the customer's eSIMs, and their latest orders."""
    esims = ESim.objects.filter(owner=customer).order_by("created_at", "pk")
    orders = (Order.objects.filter(customer=customer).select_related("plan")
              .order_by("-created_at", "-pk")[:TICKET_ORDER_CHOICES])
    return esims, orders


def ticket_message_with_attachment(*, viewer, pk: int) -> TicketMessage:
    """A message's screenshot, for its ticket's customer or for staff allowed to view
    tickets; a 404 for anyone else, signed in or not, and for a message without one."""
    if not viewer.is_authenticated:
        raise Http404("No such screenshot")
    messages = TicketMessage.objects.select_related("ticket").exclude(attachment="")
    if not (viewer.is_staff and viewer.has_perm("support.view_ticket")):
        messages = messages.filter(ticket__customer=viewer)
    return get_object_or_404(messages, pk=pk)
