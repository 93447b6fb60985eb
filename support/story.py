"""The whole story of a customer, or of one eSIM, in time order: what support reads
before answering "where is my renewal?" (the admin's story pages,
esims/admin_actions.py).

Every record that says what happened is one source: orders and the steps each went
through, payments, plans (bundles), receipts and credit notes, messages sent, tickets
and their messages, what the carrier reported (download progress, plan state changes),
support's own actions, and the audit trail (portal/audit.py). Each source is read with
one query, at most `STORY_EVENTS` rows ordered by the time of their latest event, so a
page costs the same number of queries however long the history is.

The page shows the latest events, complete back to a moment (`Story.since`): a source
cut at its limit may miss rows older than the last one it returned, so the story is cut
there (and at `STORY_EVENTS` events). What happened before is in the admin's lists, to
which the page links.

Texts are written in the active language (the staff member's), amounts with
`portal.formatting.money`, data with `data_bytes`; times stay aware, for the page to
show in the staff member's time zone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from auditlog.models import LogEntry
from django.db.models import F, Model, Prefetch, Q, QuerySet, Value
from django.db.models.functions import Coalesce, Greatest, Least
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.text import Truncator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext

from billing.models import Order, Payment
from carrier.models import CarrierEvent
from esims.models import Bundle, ESim
from esims.selectors import live_bundles
from notifications.models import DeliveryAttempt, Notification
from portal.audit import audit_entries_for, entry_changes
from portal.formatting import data_bytes, money

from .models import StaffAction, Ticket, TicketMessage

# The most events a story page shows.
STORY_EVENTS = 150
# Orders, and tickets not closed, listed with their actions above the events.
STORY_ORDERS = 10


SOURCES = {"order": gettext_lazy("order"), "payment": gettext_lazy("payment"),
           "plan": gettext_lazy("plan"), "document": gettext_lazy("document"),
           "message": gettext_lazy("message"), "ticket": gettext_lazy("ticket"),
           "carrier": gettext_lazy("carrier"), "esim": gettext_lazy("eSIM"),
           "staff": gettext_lazy("staff"), "audit": gettext_lazy("history")}


@dataclass(frozen=True)
class Event:
    """One thing that happened. `source` names its kind for the page ("order",
    "payment", "plan", "document", "message", "ticket", "carrier", "esim", "staff",
    "audit"); `target` is the admin model ("billing.order") and id it links to."""

    at: datetime
    source: str
    title: str
    detail: str = ""
    target: tuple[str, int] | None = None
    problem: bool = False

    @property
    def source_label(self) -> str:
        return str(SOURCES.get(self.source, self.source))


@dataclass
class Story:
    events: list[Event]
    # The events shown are all that happened after this moment; None: since the start.
    since: datetime | None
    esims: list[ESim] = field(default_factory=list)
    # On the first page: the latest orders, and the tickets not closed, for their actions.
    orders: list[Order] = field(default_factory=list)
    tickets: list[Ticket] = field(default_factory=list)


@dataclass(frozen=True)
class _Scope:
    """Whose story: a customer's (every eSIM), or one eSIM's."""

    customer_id: int | None = None
    esim: ESim | None = None

    def where(self, customer: str, esim: str) -> Q:
        """The filter of a source: its path to the customer, or to the eSIM."""
        if self.esim is not None:
            return Q(**{esim: self.esim.pk})
        return Q(**{customer: self.customer_id})


def customer_story(*, customer, limit: int | None = None) -> Story:
    """The customer's story: every eSIM (with its running and waiting plans, for the
    page's summary) and everything that happened to them."""
    esims: list[ESim] = list(
        ESim.objects.filter(owner=customer).select_related("renewal_plan")
        .prefetch_related(Prefetch("bundles", queryset=live_bundles(), to_attr="live_bundles"))
        .order_by("created_at", "pk"))
    story = _story(_Scope(customer_id=customer.pk), esims=esims, limit=limit)
    story.esims = esims
    return story


def esim_story(*, esim: ESim, limit: int | None = None) -> Story:
    """One eSIM's story: what happened to it, its orders, plans, messages, tickets."""
    return _story(_Scope(esim=esim), esims=[esim], limit=limit)


# --- Reading --------------------------------------------------------------------------

@dataclass
class _Source:
    rows: list
    # The latest-event time of the last row returned, when the limit cut the source: an
    # older row may be missing, so events at or before it are not shown.
    cut_at: datetime | None


def _latest(*fields: str, now: datetime | None = None):
    """The time of a row's latest event, as SQL: the latest of its timestamp fields (an
    empty one counts as the row's first), none later than `now` when given."""
    first = F(fields[0])
    times = [first, *(Coalesce(F(name), first) for name in fields[1:])]
    if now is not None:
        times = [Least(time, Value(now)) for time in times]
    return Greatest(*times) if len(times) > 1 else times[0]


def _read(queryset: QuerySet, latest, *, limit: int) -> _Source:
    rows = list(queryset.annotate(story_at=latest).order_by("-story_at", "-pk")[:limit])
    full = len(rows) == limit
    return _Source(rows=rows, cut_at=rows[-1].story_at if full else None)


def _story(scope: _Scope, *, esims: list[ESim], limit: int | None) -> Story:
    limit = limit or STORY_EVENTS
    now = timezone.now()

    def read(queryset: QuerySet, *fields: str, clamp: bool = False) -> _Source:
        return _read(queryset, _latest(*fields, now=now if clamp else None), limit=limit)

    iccids = [esim.iccid for esim in esims if esim.iccid]
    orders = read(Order.objects.filter(scope.where("customer", "esim"))
                  .select_related("plan", "receipt__credit_note"),
                  "created_at", "paid_at", "activation_started_at", "completed_at",
                  "failed_at", "refund_failed_at", "refunded_at", "receipt__issued_at",
                  "receipt__credit_note__issued_at")
    payments = read(Payment.objects.filter(scope.where("order__customer", "order__esim"))
                    .select_related("order"), "created_at", "refunded_at")
    bundles = read(Bundle.objects.filter(scope.where("esim__owner", "esim"))
                   .select_related("esim"), "created_at", "applied_at", "starts_at",
                   "ends_at", "carrier_said_at", clamp=True)
    messages = read(Notification.objects.filter(scope.where("customer", "esim"))
                    .prefetch_related(Prefetch("attempts", queryset=DeliveryAttempt.objects
                                               .order_by("-at", "-pk"))), "created_at")
    about_esim = scope.where("customer", "esim") | (
        Q(order__esim=scope.esim.pk) if scope.esim is not None else Q(pk__in=[]))
    tickets = read(Ticket.objects.filter(about_esim).select_related("customer"),
                   "created_at", "closed_at")
    ticket_messages = read(TicketMessage.objects.filter(ticket__in=Ticket.objects.filter(
        about_esim)).select_related("ticket", "author"), "created_at")
    carrier = read(CarrierEvent.objects.filter(iccid__in=iccids).filter(
        Q(kind=CarrierEvent.Kind.DOWNLOAD_PROGRESS) | Q(payload__type="bundle_state")),
        "received_at")
    if scope.esim is not None:
        staff_where = (Q(esim=scope.esim.pk) | Q(order__esim=scope.esim.pk)
                       | Q(ticket__esim=scope.esim.pk))
    else:
        staff_where = (Q(esim__owner=scope.customer_id) | Q(order__customer=scope.customer_id)
                       | Q(ticket__customer=scope.customer_id))
    staff = read(StaffAction.objects.filter(staff_where).select_related("actor"), "at")
    audited: list[Model] = [*esims, *orders.rows, *bundles.rows, *tickets.rows]
    audit = read(audit_entries_for(audited), "timestamp")

    events: list[Event] = []
    for esim in esims:
        events += _esim_events(esim)
    for order in orders.rows:
        events += _order_events(order)
    events += [event for payment in payments.rows for event in _payment_events(payment)]
    events += [event for bundle in bundles.rows for event in _bundle_events(bundle)]
    events += [_message_event(notification) for notification in messages.rows]
    events += [event for ticket in tickets.rows for event in _ticket_events(ticket)]
    events += [_ticket_message_event(message) for message in ticket_messages.rows]
    events += [_carrier_event(event) for event in carrier.rows]
    events += [_staff_event(action) for action in staff.rows]
    events += [_audit_event(entry) for entry in audit.rows]

    sources = (orders, payments, bundles, messages, tickets, ticket_messages, carrier,
               staff, audit)
    events.sort(key=lambda event: event.at, reverse=True)
    # Complete after the latest moment a source was cut at, and at most `limit` events.
    cuts = [source.cut_at for source in sources if source.cut_at is not None]
    if len(events) > limit:
        cuts.append(events[limit].at)
    since = max(cuts, default=None)
    return Story(events=[event for event in events if since is None or event.at > since],
                 since=since, orders=orders.rows[:STORY_ORDERS],
                 tickets=[ticket for ticket in tickets.rows
                          if ticket.status != Ticket.Status.CLOSED][:STORY_ORDERS])


# --- One source each ---------------------------------------------------------------------

def _esim_events(esim: ESim) -> list[Event]:
    target = ("esims.esim", esim.pk)
    name = esim.nickname
    steps = [(esim.created_at, _("eSIM %(name)s ordered: being prepared") % {"name": name}),
             (esim.ready_at, _("eSIM %(name)s ready to install (ICCID %(iccid)s)")
              % {"name": name, "iccid": esim.iccid or "-"}),
             (esim.installed_at, _("eSIM %(name)s installed on a device") % {"name": name})]
    return [Event(at=at, source="esim", title=title, target=target)
            for at, title in steps if at is not None]


def _order_events(order: Order) -> list[Event]:
    target = ("billing.order", order.pk)
    what = _("%(kind)s %(plan)s, %(amount)s") % {
        "kind": order.get_kind_display(), "plan": order.plan.name,
        "amount": money(order.amount_minor, order.currency)}
    number = order.number
    steps = [
        (order.created_at, _("Order %(number)s placed: %(what)s") % {"number": number,
                                                                     "what": what}, "", False),
        (order.paid_at, _("Order %(number)s paid") % {"number": number}, "", False),
        (order.activation_started_at, _("Order %(number)s: activation at the carrier began")
         % {"number": number}, "", False),
        (order.completed_at, _("Order %(number)s completed: applied at the carrier")
         % {"number": number}, "", False),
        (order.failed_at, _("Order %(number)s failed") % {"number": number},
         order.failure_reason, True),
        (order.refund_failed_at, _("Refund of order %(number)s failed") % {"number": number},
         order.refund_failure, True),
        (order.refunded_at, _("Order %(number)s refunded") % {"number": number}, "", False),
    ]
    events = [Event(at=at, source="order", title=title, detail=detail, target=target,
                    problem=problem) for at, title, detail, problem in steps if at is not None]
    receipt = getattr(order, "receipt", None)
    if receipt is not None:
        events.append(Event(at=receipt.issued_at, source="document", title=_(
            "Receipt %(number)s issued: %(total)s") % {
            "number": receipt.number, "total": money(receipt.total_minor, receipt.currency)},
            target=("billing.receipt", receipt.pk)))
        note = getattr(receipt, "credit_note", None)
        if note is not None:
            events.append(Event(at=note.issued_at, source="document", title=_(
                "Credit note %(number)s issued: %(total)s") % {
                "number": note.number, "total": money(note.total_minor, note.currency)},
                detail=note.reason, target=("billing.creditnote", note.pk)))
    return events


def _payment_events(payment: Payment) -> list[Event]:
    target = ("billing.order", payment.order_id)
    failed = payment.status == Payment.Status.FAILED
    detail = (f"{payment.failure_code}: {payment.failure_message}".strip(": ")
              if failed else "")
    events = [Event(at=payment.created_at, source="payment", title=_(
        "Payment of %(amount)s for %(number)s (%(gateway)s%(saved)s): %(status)s") % {
        "amount": money(payment.amount_minor, payment.currency),
        "number": payment.order.number, "gateway": payment.gateway,
        "saved": _(", saved card") if payment.off_session else "",
        "status": payment.get_status_display()}, detail=detail, target=target,
        problem=failed)]
    if payment.refunded_at is not None:
        events.append(Event(at=payment.refunded_at, source="payment", title=_(
            "Duplicate payment for %(number)s refunded") % {"number": payment.order.number},
            detail=payment.refund_reference, target=target))
    return events


def _bundle_events(bundle: Bundle) -> list[Event]:
    target = ("esims.bundle", bundle.pk)
    plan = bundle.plan_name
    use = _("%(used)s of %(allowance)s used") % {
        "used": data_bytes(bundle.data_used_bytes),
        "allowance": data_bytes(bundle.data_allowance_bytes)}
    events = [Event(at=bundle.created_at, source="plan", title=_(
        "Plan %(plan)s (%(reference)s) added to %(esim)s") % {
        "plan": plan, "reference": bundle.carrier_reference, "esim": bundle.esim.nickname},
        target=target)]
    if bundle.applied_at is not None:
        events.append(Event(at=bundle.applied_at, source="plan", title=_(
            "Plan %(plan)s applied at the carrier") % {"plan": plan}, target=target))
    now = timezone.now()
    if bundle.starts_at is not None and bundle.starts_at <= now:
        events.append(Event(at=bundle.starts_at, source="plan", title=_(
            "Plan %(plan)s started") % {"plan": plan}, target=target))
    if bundle.state in (Bundle.State.EXPIRED, Bundle.State.DEPLETED, Bundle.State.REVOKED):
        ended = (bundle.ends_at if bundle.state == Bundle.State.EXPIRED and bundle.ends_at
                 else bundle.carrier_said_at or bundle.ends_at or bundle.created_at)
        events.append(Event(at=min(ended, now), source="plan", title=_(
            "Plan %(plan)s ended: %(state)s") % {"plan": plan,
                                                 "state": bundle.get_state_display()},
            detail=use, target=target))
    return events


def _message_event(notification: Notification) -> Event:
    attempts = list(notification.attempts.all())
    failure = next((a.error for a in attempts if not a.succeeded), "")
    failed = notification.status == Notification.Status.FAILED
    detail = _("%(count)s attempt(s)") % {"count": notification.attempt_count}
    if notification.sent_at is not None:
        detail += " · " + _("sent %(when)s") % {
            "when": timezone.localtime(notification.sent_at).strftime("%Y-%m-%d %H:%M")}
    if failure and notification.status != Notification.Status.SENT:
        detail += " · " + failure
    return Event(at=notification.created_at, source="message", title=_(
        "Message “%(kind)s” by %(channel)s%(to)s: %(status)s") % {
        "kind": notification.get_kind_display(), "channel": notification.get_channel_display(),
        "to": f" ({notification.recipient})" if notification.recipient else "",
        "status": notification.get_status_display()}, detail=detail,
        target=("notifications.notification", notification.pk), problem=failed)


def _ticket_events(ticket: Ticket) -> list[Event]:
    target = ("support.ticket", ticket.pk)
    events = [Event(at=ticket.created_at, source="ticket", title=_(
        "Ticket #%(pk)s opened: %(subject)s") % {"pk": ticket.pk, "subject": ticket.subject},
        detail=ticket.get_status_display(), target=target)]
    if ticket.closed_at is not None:
        events.append(Event(at=ticket.closed_at, source="ticket", title=_(
            "Ticket #%(pk)s closed") % {"pk": ticket.pk}, target=target))
    return events


def _ticket_message_event(message: TicketMessage) -> Event:
    if message.from_staff:
        title = _("Support (%(author)s) replied on ticket #%(pk)s") % {
            "author": message.author, "pk": message.ticket_id}
    else:
        title = _("The customer wrote on ticket #%(pk)s") % {"pk": message.ticket_id}
    detail = Truncator(message.body).chars(300)
    if message.attachment_name:
        detail += " · " + _("screenshot: %(name)s") % {"name": message.attachment_name}
    return Event(at=message.created_at, source="ticket", title=title, detail=detail,
                 target=("support.ticket", message.ticket_id))


_DOWNLOAD_POINTS = {"1": gettext_lazy("the download on the device failed"),
                    "3": gettext_lazy("the profile was downloaded to a device"),
                    "4": gettext_lazy("the profile was installed on a device")}


def _carrier_event(event: CarrierEvent) -> Event:
    payload = event.payload if isinstance(event.payload, dict) else {}
    target = ("carrier.carrierevent", event.pk)
    if event.kind == CarrierEvent.Kind.DOWNLOAD_PROGRESS:
        point = str(payload.get("notificationPointId", ""))
        said = _DOWNLOAD_POINTS.get(point, _("notification point %(point)s") % {"point": point})
        eid = payload.get("eid") or ""
        return Event(at=event.received_at, source="carrier", title=_(
            "SM-DP+ (ICCID %(iccid)s): %(said)s") % {"iccid": event.iccid, "said": str(said)},
            detail=f"EID {eid}" if eid else "", target=target, problem=point == "1")
    reported = payload.get("bundle")
    bundle: dict = reported if isinstance(reported, dict) else {}
    used, initial = bundle.get("used_bytes"), bundle.get("initial_quantity_bytes")
    detail = _("%(used)s of %(allowance)s used") % {
        "used": data_bytes(used if isinstance(used, int) else 0),
        "allowance": data_bytes(initial if isinstance(initial, int) else None)}
    try:
        end = parse_datetime(str(bundle.get("end") or ""))
    except ValueError:  # stored as the carrier sent it, checked then: never expected
        end = None
    if end is not None and timezone.is_aware(end):
        detail += " · " + _("ends %(end)s") % {"end": _shown(end)}
    return Event(at=event.received_at, source="carrier", title=_(
        "Carrier: plan %(reference)s is %(state)s") % {
        "reference": bundle.get("reference", "?"), "state": bundle.get("state", "?")},
        detail=detail, target=target)


def _staff_event(action: StaffAction) -> Event:
    detail = " · ".join(part for part in (
        _("reason: %(note)s") % {"note": action.note} if action.note else "",
        action.outcome) if part)
    return Event(at=action.at, source="staff", title=_("%(action)s by %(actor)s") % {
        "action": action.get_kind_display(), "actor": action.actor},
        detail=detail, target=("support.staffaction", action.pk))


def _audit_event(entry) -> Event:
    who = entry.actor or entry.actor_email or _("the portal (no one signed in)")
    if entry.action == LogEntry.Action.CREATE:  # what it was made with
        changes = "; ".join(f"{change.label}: {_shown(change.new)}"
                            for change in entry_changes(entry)
                            if change.new not in (None, False, "", "null"))
    else:
        changes = "; ".join(f"{change.label}: {_shown(change.old)} \u2192 {_shown(change.new)}"
                            for change in entry_changes(entry))
    action = {LogEntry.Action.CREATE: pgettext("audit action", "created"),
              LogEntry.Action.UPDATE: pgettext("audit action", "changed"),
              LogEntry.Action.DELETE: pgettext("audit action", "deleted")}.get(entry.action,
                                                         entry.get_action_display())
    return Event(at=entry.timestamp, source="audit", title=_(
        "%(object)s %(action)s by %(who)s") % {
        "object": entry.object_repr, "action": action, "who": who},
        detail=Truncator(changes).chars(500), target=("auditlog.logentry", entry.pk))


def _shown(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")
    return str(value)


def story_targets(events: Iterable[Event]) -> set[str]:
    """The admin models the events link to, to check the viewer's permissions once."""
    return {event.target[0] for event in events if event.target is not None}
