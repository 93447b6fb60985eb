from pathlib import PurePath

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from billing.selectors import order_get_for_customer
from portal.states import TransitionNotAllowed

from . import help, selectors, services
from .attachments import CONTENT_TYPES
from .forms import About, ReplyForm, TicketForm, about_parse


@require_GET
def help_index(request):
    """The help centre: every article by topic, and search (`?q=`) in the reader's
    language."""
    query = help.query_clean(request.GET.get("q"))
    return render(request, "help/index.html", {
        "query": query, "results": help.help_search(query) if query else None,
        "topics": help.articles_by_topic()})


@require_GET
def help_article(request, slug):
    article = help.article_get(slug)
    return render(request, "help/article.html", {
        **help.article_context(article), "related": help.articles_related(article)})


@login_required
def ticket_list(request):
    tickets = selectors.ticket_list_for_customer(customer=request.user)
    return render(request, "support/ticket_list.html", {"tickets": tickets})


@login_required
@require_http_methods(["GET", "POST"])
def ticket_new(request):
    """Ask a question, about one of the customer's eSIMs or orders if they like:
    `?esim=<id>`, `?order=<number>` and `?help=<article>` choose it beforehand. Another
    customer's eSIM or order, or an article that does not exist, is a 404."""
    about, article = _asked_from(request)
    esims, orders = selectors.ticket_subjects_for_customer(customer=request.user)
    form = TicketForm(request.POST or None, request.FILES or None, customer=request.user,
                      esims=esims, orders=orders, about=about, initial={
                          "about": about.value, "help": article.slug if article else "",
                          "subject": _suggested_subject(about, article)})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        body = data["body"]
        if data["help"] is not None:
            body += "\n\n" + _("Sent from the help article “%(title)s”: %(url)s") % {
                "title": data["help"].title,
                "url": settings.PORTAL_BASE_URL + reverse("help:article",
                                                          args=[data["help"].slug])}
        ticket = services.ticket_open(customer=request.user, subject=data["subject"],
                                      body=body, order=data["about"].order,
                                      esim=data["about"].esim, screenshot=data["screenshot"])
        return redirect("support:ticket", pk=ticket.pk)
    return render(request, "support/ticket_new.html", {
        "form": form, "about": about, "article": article})


def _asked_from(request) -> tuple[About, help.Article | None]:
    """What the page linking here attached; anything not the customer's is a 404."""
    esim, order, slug = (request.GET.get(name, "") for name in ("esim", "order", "help"))
    value = f"order:{order}" if order else (f"esim:{esim}" if esim else "")
    try:
        about = about_parse(customer=request.user, value=value)
    except forms.ValidationError:
        raise Http404("No such eSIM or order") from None
    return about, help.article_get(slug) if slug else None


def _suggested_subject(about: About, article: help.Article | None) -> str:
    if about.order is not None:
        return _("About order %(number)s") % {"number": about.order.number}
    if about.esim is not None:
        return _("About my eSIM “%(name)s”") % {"name": about.esim.nickname}
    if article is not None:
        return str(article.title)
    return ""


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
    form = ReplyForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.ticket_reply_from_customer(ticket=ticket, author=request.user,
                                                body=form.cleaned_data["body"],
                                                screenshot=form.cleaned_data["screenshot"])
        except TransitionNotAllowed:
            messages.error(request, _("This question is closed. Ask a new one if you need "
                                      "more help."))
        return redirect("support:ticket", pk=ticket.pk)
    return render(request, "support/ticket_detail.html", {
        "ticket": ticket, "messages_list": selectors.ticket_messages(ticket=ticket),
        "form": form, "ticket_new_query": About(order=ticket.order, esim=ticket.esim).query})


@require_GET
def ticket_attachment(request, pk):
    """A screenshot on a ticket, for the ticket's customer and for staff who may view
    tickets (the admin links here by this view's name, `support:ticket_attachment`);
    a 404 for everyone else. Served as the image type its content was checked to be,
    never sniffed, and in a sandbox should a browser open it as a page."""
    message = selectors.ticket_message_with_attachment(viewer=request.user, pk=pk)
    extension = PurePath(message.attachment.name or "").suffix.lstrip(".").lower()
    if extension not in CONTENT_TYPES:
        raise Http404("No such screenshot")
    try:
        handle = message.attachment.open("rb")
    except FileNotFoundError:
        raise Http404("No such screenshot") from None
    response = FileResponse(handle, content_type=CONTENT_TYPES[extension],
                            filename=message.attachment_name or f"screenshot.{extension}")
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    return response
