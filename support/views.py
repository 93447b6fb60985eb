from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from billing.selectors import order_get_for_customer
from portal.states import TransitionNotAllowed

from . import selectors, services
from .forms import ReplyForm, TicketForm


@login_required
def ticket_list(request):
    tickets = selectors.ticket_list_for_customer(customer=request.user)
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
    ticket = selectors.ticket_get_for_customer(customer=request.user, pk=pk)
    form = ReplyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.ticket_reply(ticket=ticket, author=request.user,
                                  body=form.cleaned_data["body"], from_staff=False)
        except TransitionNotAllowed:
            messages.error(request, _("This question is closed. Ask a new one if you need "
                                      "more help."))
        return redirect("support:ticket", pk=ticket.pk)
    return render(request, "support/ticket_detail.html", {
        "ticket": ticket, "messages_list": selectors.ticket_messages(ticket=ticket),
        "form": form})
