"""docs/state-machines.md shows the transition tables the code runs on."""

from portal.statedocs import DOC_PATH, render, state_machines


def test_the_state_machine_page_is_drawn_from_the_tables():
    assert DOC_PATH.read_text() == render(), (
        "docs/state-machines.md is out of date: run manage.py statediagrams")


def test_every_machine_named_in_the_issue_has_one_home():
    homes = {machine.model.__name__: module for module, machine in state_machines()}
    for model in ("Order", "Payment", "ESim", "Bundle", "Notification", "Ticket"):
        assert model in homes, f"{model} has no state machine module"
