"""docs/state-machines.md, drawn from the transition tables themselves.

Every module named `states.py` or `*_states.py` in one of the portal's apps is a state
machine's home (portal/states.py). `manage.py statediagrams` writes the page from them,
and a test fails when the page and the tables disagree.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from django.apps import apps
from django.conf import settings

from .states import StateMachine

DOC_PATH = Path(settings.BASE_DIR) / "docs" / "state-machines.md"

_HEADER = """# State machines

Each state machine of the portal has one home: a module that opens with its transition
table and moves a row only with a conditional update limited to the states the table
allows the move from (`portal/states.py`). A move the table does not allow raises
`TransitionNotAllowed` and changes nothing; two workers racing for the same move cannot
both make it. Database check constraints tie each state to the timestamps it implies.

This page is generated from the tables by `manage.py statediagrams` (a test keeps it in
step): change the table, then run the command.
"""


def state_machines() -> list[tuple[str, StateMachine]]:
    """(module, machine) for every machine of the project's apps, in a stable order."""
    found = []
    for config in apps.get_app_configs():
        if not Path(config.path).is_relative_to(settings.BASE_DIR) or ".venv" in config.path:
            continue
        for info in pkgutil.iter_modules([config.path]):
            if info.name == "states" or info.name.endswith("_states"):
                name = f"{config.name}.{info.name}"
                module = importlib.import_module(name)
                found += [(name, value) for value in vars(module).values()
                          if isinstance(value, StateMachine)]
    return sorted(found, key=lambda item: (item[0], item[1].name))


def render() -> str:
    parts = [_HEADER]
    for module, machine in state_machines():
        path = module.replace(".", "/") + ".py"
        parts.append(f"## {machine.name}\n\n`{machine.model.__name__}.{machine.field_name}`, "
                     f"moved only by `{path}`.\n\n```mermaid\n{machine.mermaid()}\n```\n")
        rows = ["| from | may become |", "| --- | --- |"]
        for source, targets in machine.table.items():
            rows.append(f"| {source} | {', '.join(str(t) for t in targets) or '(final)'} |")
        parts.append("\n".join(rows) + "\n")
    return "\n".join(parts)
