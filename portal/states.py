"""The shape every state machine of the portal takes.

Each machine (an Order, a Payment, an ESim, a Bundle, a Notification, a Ticket) lives in
one module of its app that opens with its transition table, readable in one screen, and
moves a row only through `StateMachine.move`: a conditional UPDATE whose WHERE clause
names the states the table allows the move from. Two workers racing for the same move
cannot both make it (the second updates no row), and a move the table does not allow
raises `TransitionNotAllowed`, a domain error that says which. The diagrams in
docs/state-machines.md are drawn from these tables (`StateMachine.mermaid`), and a test
keeps them in step.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import models

from portal import audit


class TransitionNotAllowed(Exception):
    """A row was asked to move to a state its machine does not allow from where it is."""

    def __init__(self, machine: str, pk: Any, current: str | None, wanted: str):
        self.machine, self.pk, self.current, self.wanted = machine, pk, current, wanted
        where = "gone" if current is None else f"is {current}"
        super().__init__(f"{machine} {pk} {where}: cannot become {wanted}")


@dataclass(frozen=True)
class StateMachine:
    """A transition table: for each state, the states it may move to."""

    name: str
    model: type[models.Model]
    table: Mapping[str, Iterable[str]]
    field_name: str = "status"
    # The states a row starts in (drawn as entry points in the diagram).
    initial: tuple[str, ...] = ()
    _sources: dict[str, tuple[str, ...]] = field(default_factory=dict, init=False,
                                                 repr=False, compare=False)

    def __post_init__(self) -> None:
        states = {choice for choice, _label in self.model._meta.get_field(  # type: ignore[union-attr]
            self.field_name).choices or []}
        named = set(self.table) | {to for tos in self.table.values() for to in tos}
        if named - states:
            raise ValueError(f"{self.name}: unknown states {sorted(named - states)}")
        if states - named:
            raise ValueError(f"{self.name}: states no transition reaches or leaves: "
                             f"{sorted(states - named)}")
        for source, targets in self.table.items():
            for target in targets:
                self._sources.setdefault(target, ())
                self._sources[target] += (source,)

    def sources(self, to: str) -> tuple[str, ...]:
        """The states a row may move to `to` from."""
        return self._sources.get(to, ())

    def allows(self, current: str, to: str) -> bool:
        return current in self.sources(to)

    def check(self, *, pk: Any, current: str, to: str) -> None:
        """Raise TransitionNotAllowed unless the table allows current → to (for a row
        the caller holds locked and is about to save)."""
        if not self.allows(current, to):
            raise TransitionNotAllowed(self.name, pk, current, to)

    def move(self, queryset: models.QuerySet, *, to: str, **fields: Any) -> int:
        """Move every row of `queryset` that may move to `to` (in a state the table
        allows it from), setting `fields` too; returns how many moved. Rows elsewhere are
        left as they are: a batch takes what it can.

        A model with an audit trail (portal/audit.py) has each row's move recorded, with
        who made it, in the same transaction: the rows are locked, then updated, then
        their entries written, so a row another worker moved first is neither moved nor
        recorded here."""
        where = {f"{self.field_name}__in": self.sources(to)}
        values = {self.field_name: to, **fields}
        if audit.is_audited(self.model):
            return audit.update_recorded(queryset, values=values, where=where,
                                         always=(self.field_name,))
        return queryset.filter(**where).update(**values)

    def move_one(self, pk: Any, *, to: str, **fields: Any) -> None:
        """Move one row to `to`, or raise TransitionNotAllowed saying where it is."""
        if not self.move(self.model._default_manager.filter(pk=pk), to=to, **fields):
            current = (self.model._default_manager.filter(pk=pk)
                       .values_list(self.field_name, flat=True).first())
            raise TransitionNotAllowed(self.name, pk, current, to)

    def mermaid(self) -> str:
        """The table as a Mermaid state diagram, for docs/state-machines.md."""
        lines = ["stateDiagram-v2"]
        lines += [f"    [*] --> {state}" for state in self.initial]
        for source, targets in self.table.items():
            lines += [f"    {source} --> {target}" for target in targets]
        return "\n".join(lines)
