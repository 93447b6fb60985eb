"""The audit trail: who changed what of an order, an eSIM, a bundle or a ticket, and when.

django-auditlog keeps it (`auditlog.LogEntry`). `register` names, per model, the fields
whose changes are worth a line in the history: states, the dates of each step and of a
plan's period, allowances, the auto-renewal settings, refund claims and failures,
nicknames. Everything else stays out, above all the usage feed's figures and
bookkeeping (data used, when usage was reported, when the carrier last spoke, when an
eSIM was last asked about, sweep claims and schedules), which change every few minutes
on every eSIM and would bury the history.

Two paths write entries:
- `save()` of a registered model: auditlog's own signals, with the signed-in user of
  the request (`AuditlogMiddleware`) as the actor;
- a state machine's move (`portal.states.StateMachine.move`), which is a conditional
  UPDATE that no signal sees: `update_recorded` locks the rows it may move, updates
  exactly those, and writes their entries with one INSERT, in one transaction.
A change made with `QuerySet.update` outside a state machine leaves no entry.

The actor is the user in auditlog's context: the signed-in customer or staff member for
a request, nobody (None) for a worker.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from auditlog.cid import get_cid
from auditlog.context import auditlog_disabled
from auditlog.diff import get_field_value, is_primitive
from auditlog.models import LogEntry
from auditlog.registry import auditlog
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist
from django.db import DEFAULT_DB_ALIAS, models, transaction
from django.db.models import Q, QuerySet
from django.db.models.signals import pre_save
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.encoding import smart_str

# Per model, the fields whose changes are recorded (auditlog's `include_fields`).
AUDITED_FIELDS: dict[str, tuple[str, ...]] = {
    # Not: idempotency_key, activation_attempted_at (the activation sweep's claim).
    "billing.Order": (
        "number", "customer", "kind", "plan", "esim", "nickname", "currency",
        "amount_minor", "status", "failure_reason", "activation_attempts", "paid_at",
        "activation_started_at", "completed_at", "failed_at", "refunded_at",
        "refund_requested_at", "refund_failed_at", "refund_failure"),
    # Not: synced_at (the usage poll's claim), renew_at and renewal_notice_at (the
    # renewal sweeps' schedule and lease), reminder_due_at, updated_at.
    "esims.ESim": (
        "owner", "nickname", "state", "iccid", "eid", "smdp_address", "matching_id",
        "auto_renew", "auto_renew_since", "renewal_plan", "renewal_payment_method",
        "renewal_attention", "renewal_skipped_bundle", "data_alert_percents", "ready_at",
        "installed_at"),
    # Not: data_used_bytes, usage_reported_at, carrier_said_at (the usage feed).
    "esims.Bundle": (
        "esim", "order", "plan", "plan_code", "plan_name", "validity_days",
        "data_allowance_bytes", "state", "carrier_reference", "applied_at", "starts_at",
        "ends_at"),
    # Not: updated_at (touched by every message).
    "support.Ticket": (
        "customer", "order", "esim", "subject", "status", "answered_at", "closed_at"),
}


def register() -> None:
    """Register the audited models with auditlog (PortalConfig.ready)."""
    from django.apps import apps

    for label, fields in AUDITED_FIELDS.items():
        auditlog.register(apps.get_model(label), include_fields=list(fields))


def is_audited(model: type[models.Model]) -> bool:
    """Whether changes to `model` are recorded now (registered, and auditlog not
    switched off for the moment with `auditlog.context.disable_auditlog`)."""
    return auditlog.contains(model) and not auditlog_disabled.get()


def _audited_names(model: type[models.Model], names: Iterable[str]) -> list[str]:
    """Of the field names (or attnames) given, those recorded for `model`."""
    included = set(auditlog.get_model_fields(model)["include_fields"])
    audited = []
    for name in names:
        try:
            field = model._meta.get_field(name)
        except FieldDoesNotExist:
            continue
        if field.name in included:
            audited.append(name)
    return audited


def update_recorded(queryset: QuerySet, *, values: Mapping[str, Any],
                    where: Mapping[str, Any] | None = None,
                    always: Sequence[str] = ()) -> int:
    """UPDATE the rows of `queryset` that match `where` (a state machine: in a state the
    move is allowed from) with `values`, and record an entry for each row updated, with
    the changes of the audited fields among `values` (`always` are recorded even when
    unchanged: a state machine's state field, so that each move shows). Returns how many
    rows were updated.

    Race-safe as a conditional UPDATE is: the rows are locked first (select_for_update,
    in primary-key order so that two batches never wait on each other in a circle), and
    a row another transaction moved away meanwhile is not matched once the lock is
    granted (PostgreSQL checks `where` again on the row as it now is). Exactly the rows
    locked are updated, and their entries written with one INSERT, in the same
    transaction: no change without its entry, and no entry without its change.
    """
    model = queryset.model
    where = dict(where or {})
    if queryset.query.distinct:  # FOR UPDATE refuses DISTINCT: lock by primary key
        queryset = model._default_manager.filter(pk__in=queryset.values("pk"))
    with transaction.atomic(savepoint=False):
        before = list(queryset.filter(**where).select_related(None)
                      .select_for_update(of=("self",)).order_by("pk"))
        if not before:
            return 0
        moved = model._default_manager.filter(pk__in=[row.pk for row in before],
                                              **where).update(**values)
        # Locked, every row matched still (on SQLite, writers take turns instead).
        _record(before, values=values, always=always)
    return moved


def _record(before: list[models.Model], *, values: Mapping[str, Any],
            always: Sequence[str]) -> None:
    """Write one UPDATE entry per row of `before` (the rows as they were, locked; they
    are given their new values here), now that `values` were written to them all.

    The changes are auditlog's own (`auditlog.diff.get_field_value` writes each value,
    as for the entries of its signals); a batch writes each distinct value once, since
    most are the same for every row (the new state, the time of the move)."""
    model = type(before[0])
    fields = {name: _concrete(model, name) for name in _audited_names(model, values)}
    if not fields:
        return
    shown_always = {fields[name].attname for name in always if name in fields}
    # A value computed by the database (F() + 1, Coalesce) is read back, for the rows
    # changed, in one query.
    computed = [field.attname for name, field in fields.items()
                if hasattr(values[name], "resolve_expression")]
    fresh = ({row["pk"]: row for row in model._default_manager.filter(
        pk__in=[row.pk for row in before]).values("pk", *computed)} if computed else {})
    given = {field.attname: _raw(values[name]) for name, field in fields.items()
             if field.attname not in computed}
    written = _ValueWriter(before[0])
    cid = get_cid()
    content_type = ContentType.objects.get_for_model(model)
    entries = []
    for row in before:
        changes = {}
        for field in fields.values():
            old = written(field, getattr(row, field.attname))
            raw = fresh[row.pk][field.attname] if field.attname in computed else (
                given[field.attname])
            setattr(row, field.attname, raw)
            new = written(field, raw)
            if old != new or field.attname in shown_always:
                changes[field.name] = [old, new]
        if changes:
            entries.append(LogEntry(
                content_type_id=content_type.pk, object_pk=smart_str(row.pk),
                object_id=row.pk if isinstance(row.pk, int) else None,
                object_repr=smart_str(row), action=LogEntry.Action.UPDATE, changes=changes,
                cid=cid))
    _with_actor(entries)
    LogEntry.objects.bulk_create(entries)


class _ValueWriter:
    """auditlog's way of writing a field's value in an entry, remembered per value."""

    def __init__(self, sample: models.Model):
        self.scratch = copy.copy(sample)
        self.json = getattr(settings, "AUDITLOG_STORE_JSON_CHANGES", False)
        self.known: dict[tuple[str, Any], Any] = {}

    def __call__(self, field: models.Field, raw: Any) -> Any:
        try:
            return self.known[field.attname, raw]
        except KeyError:
            pass
        except TypeError:  # not hashable (a JSON list): written each time
            return self._write(field, raw)
        written = self.known[field.attname, raw] = self._write(field, raw)
        return written

    def _write(self, field: models.Field, raw: Any) -> Any:
        """As `auditlog.diff.model_instance_diff` writes a changed value."""
        setattr(self.scratch, field.attname, raw)
        value = get_field_value(self.scratch, field, self.json)
        return value if self.json and is_primitive(value) else smart_str(value)


def _raw(value: Any) -> Any:
    """What a column holds for a value given to UPDATE (a related row: its key)."""
    return value.pk if isinstance(value, models.Model) else value


def _concrete(model: type[models.Model], name: str) -> models.Field:
    field = model._meta.get_field(name)
    assert isinstance(field, models.Field)  # a concrete column, as UPDATE sets
    return field


def _with_actor(entries: list[LogEntry]) -> None:
    """Fill in who acted and from where, exactly as auditlog does for the entries its
    signals save: its context (the middleware during a request, or `set_actor`) listens
    to LogEntry's pre_save while it is open, and sets the actor, the address and the
    port. bulk_create sends no signal, so it is sent here; outside any context (a
    worker) nobody listens and the actor stays None."""
    if not pre_save.has_listeners(LogEntry):
        return
    for entry in entries:
        pre_save.send(sender=LogEntry, instance=entry, raw=False, using=DEFAULT_DB_ALIAS,
                      update_fields=None)


# --- Reading the history ----------------------------------------------------------------

def audit_entries_for(objects: Iterable[models.Model]) -> QuerySet[LogEntry]:
    """Every entry about any of `objects` (instances of any models, mixed), oldest first,
    with their actors; one query (content types come from Django's cache)."""
    by_model: dict[type[models.Model], set[int]] = defaultdict(set)
    for obj in objects:
        by_model[obj._meta.concrete_model or type(obj)].add(obj.pk)
    if not by_model:
        return LogEntry.objects.none()
    where = Q()
    for model, pks in by_model.items():
        where |= Q(content_type=ContentType.objects.get_for_model(model),
                   object_id__in=sorted(pks))
    return (LogEntry.objects.filter(where).select_related("actor", "content_type")
            .order_by("timestamp", "pk"))


@dataclass(frozen=True)
class Change:
    """One field's change in an entry, ready to show: its label and both values."""

    field: str
    label: str
    old: Any
    new: Any


def entry_changes(entry: LogEntry) -> list[Change]:
    """The changes of an entry for a person to read: the field's label in the active
    language, a choice's label rather than its code, a time as an aware datetime (shown
    in the reader's zone by the template), related rows by their id. Makes no query."""
    model = entry.content_type.model_class()
    changes = []
    for name, values in (entry.changes_dict or {}).items():
        if not isinstance(values, list | tuple) or len(values) != 2:
            continue  # a many-to-many entry: none of the audited models has one
        try:
            field = model._meta.get_field(name) if model else None
        except FieldDoesNotExist:
            field = None
        label = str(getattr(field, "verbose_name", name))
        old, new = (_shown(field, value) for value in values)
        changes.append(Change(field=name, label=label, old=old, new=new))
    return changes


def _shown(field: Any, value: Any) -> Any:
    if value in (None, "None", ""):
        return None
    if field is None:
        return value
    if field.choices:
        return dict(field.flatchoices).get(value, value)
    if isinstance(field, models.DateTimeField):
        parsed = value if isinstance(value, datetime) else parse_datetime(str(value))
        if parsed is None:
            return value
        # auditlog writes times as naive UTC.
        return parsed if timezone.is_aware(parsed) else parsed.replace(tzinfo=UTC)
    if isinstance(field, models.BooleanField):
        return value in (True, "True", "true", "1")
    if field.is_relation:
        return f"#{value}"
    return value
