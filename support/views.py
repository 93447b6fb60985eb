from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from billing.selectors import order_get_for_customer

from . import services
from .forms import ReplyForm, TicketForm
from .models import Ticket


@login_required
def ticket_list(request):
    tickets = Ticket.objects.filter(customer=request.user).select_related("order")
    return render(request, "support/ticket_list.html", {"tickets": tickets})


@login_required
@require_http_methods(["GET", "POST"])
def ticket_new(request):
    form = TicketForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        ticket = services.ticket_open(customer=request.user, **form.cleaned_data)
        return redirect("support:ticket", pk=ticket.pk)
    return render(request, "support/ticket_new.html", {"form": form})


@login_required
@require_POST
def ticket_about_order(request, number):
    """The one click on a slow or failed order: a ticket that already says what's wrong."""
    order = order_get_for_customer(customer=request.user, number=number)
    ticket = services.ticket_open(
        customer=request.user, order=order,
        subject=_("Order %(number)s is taking longer than usual") % {"number": order.number},
        body=_("My order %(number)s (%(plan)s) has not been activated yet. Its status is: "
               "%(status)s.") % {"number": order.number, "plan": order.plan.name,
                                 "status": order.get_status_display()})
    return redirect("support:ticket", pk=ticket.pk)


@login_required
@require_http_methods(["GET", "POST"])
def ticket_detail(request, pk):
    ticket = get_object_or_404(Ticket, pk=pk, customer=request.user)
    form = ReplyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.ticket_reply(ticket=ticket, author=request.user, body=form.cleaned_data["body"],
                              from_staff=False)
        return redirect("support:ticket", pk=ticket.pk)
    return render(request, "support/ticket_detail.html", {
        "ticket": ticket, "messages_list": ticket.messages.select_related("author"),
        "form": form})
