"""Extending a running bundle (support's goodwill): its end moves once per extension
reference, whatever is repeated; anything malformed is a 400 that changes nothing."""

from __future__ import annotations

import json

import pytest

from .conftest import GB
from .test_bundles import DAY, at

BIG = "x" * 100_000


def extend(carrier, reference, body):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return carrier.client.post(f"/api/v1/bundles/{reference}/extend", data=raw,
                               content_type="application/json",
                               headers={"X-API-Key": carrier.sim.settings.api_key})


@pytest.fixture
def running(carrier):
    """An installed eSIM running a 30-day bundle, with a renewal queued behind it."""
    iccid = carrier.installed()
    carrier.apply(iccid, "current", quantity=10 * GB, validity_days=30)
    carrier.apply(iccid, "renewal", quantity=10 * GB, validity_days=30)
    return iccid


def test_an_extension_moves_the_running_bundles_end_once(carrier, running):
    first = extend(carrier, "current", {"reference": "ext-1", "days": 7})
    assert first.status_code == 201
    assert (first.get_json()["end"], first.get_json()["state"]) == (at(37 * DAY), "active")

    again = extend(carrier, "current", {"reference": "ext-1", "days": 7})
    assert again.status_code == 200 and again.get_json()["end"] == at(37 * DAY)
    assert carrier.bundles(running)["current"]["end"] == at(37 * DAY)
    assert carrier.count("extensions") == 1

    # Another extension is another reference, and moves the end again.
    assert extend(carrier, "current", {"reference": "ext-2", "days": 1}).status_code == 201
    assert carrier.bundles(running)["current"]["end"] == at(38 * DAY)


def test_the_queued_bundle_starts_at_the_new_end(carrier, running):
    extend(carrier, "current", {"reference": "ext-1", "days": 2})
    carrier.tick(advance_seconds=31 * DAY)
    bundles = carrier.bundles(running)
    assert bundles["current"]["state"] == "active" and bundles["renewal"]["state"] == "queued"

    carrier.tick(advance_seconds=2 * DAY)
    bundles = carrier.bundles(running)
    assert bundles["current"]["state"] == "expired"
    assert (bundles["renewal"]["state"], bundles["renewal"]["start"]) == ("active", at(32 * DAY))


def test_an_extension_is_announced_to_the_portal(carrier, running):
    before = len(carrier.callbacks("bundle_state"))
    extend(carrier, "current", {"reference": "ext-1", "days": 3})
    extend(carrier, "current", {"reference": "ext-1", "days": 3})
    announced = carrier.callbacks("bundle_state")[before:]
    assert len(announced) == 1
    assert announced[0]["body"]["bundle"]["end"] == at(33 * DAY)


def test_a_top_ups_end_follows_its_bundle(carrier, running):
    carrier.apply(running, "extra", kind="topup", quantity=GB)
    extend(carrier, "current", {"reference": "ext-1", "days": 5})
    assert carrier.bundles(running)["extra"]["end"] == at(35 * DAY)
    refused = extend(carrier, "extra", {"reference": "ext-2", "days": 5})
    assert (refused.status_code, refused.get_json()["error"]["code"]) == (409, "not_extendable")


@pytest.mark.parametrize("reference, code, status", [
    ("renewal", "bundle_not_active", 409),  # queued: its period runs from its start
    ("nobody", "unknown_bundle", 404),
])
def test_only_a_running_bundle_is_extended(carrier, running, reference, code, status):
    response = extend(carrier, reference, {"reference": "ext-1", "days": 5})
    assert (response.status_code, response.get_json()["error"]["code"]) == (status, code)
    assert carrier.count("extensions") == 0


def test_an_ended_bundle_is_not_extended(carrier, running):
    carrier.tick(advance_seconds=30 * DAY + 1)
    response = extend(carrier, "current", {"reference": "ext-1", "days": 5})
    assert (response.status_code, response.get_json()["error"]["code"]) == (
        409, "bundle_not_active")
    assert carrier.bundles(running)["current"]["end"] == at(30 * DAY)


@pytest.mark.parametrize("body", [
    {"reference": "ext-1", "days": 3},  # the same reference, another number of days
    {"reference": "ext-1", "days": 5, "note": "ignored"},  # fine: same extension
])
def test_a_reference_names_one_extension(carrier, running, body):
    extend(carrier, "current", {"reference": "ext-1", "days": 5})
    response = extend(carrier, "current", body)
    if body["days"] == 5:
        assert response.status_code == 200
    else:
        assert (response.status_code, response.get_json()["error"]["code"]) == (
            409, "reference_conflict")
    assert carrier.bundles(running)["current"]["end"] == at(35 * DAY)


def test_a_reference_used_on_another_bundle_conflicts(carrier, running):
    other = carrier.installed()
    carrier.apply(other, "other", quantity=GB, validity_days=30)
    extend(carrier, "current", {"reference": "ext-1", "days": 5})
    response = extend(carrier, "other", {"reference": "ext-1", "days": 5})
    assert (response.status_code, response.get_json()["error"]["code"]) == (
        409, "reference_conflict")
    assert carrier.bundles(other)["other"]["end"] == at(30 * DAY)


@pytest.mark.parametrize("body, field", [
    ({"days": 5}, "reference"),
    ({"reference": "ext-1"}, "days"),
    ({"reference": "ext-1", "days": 0}, "days"),
    ({"reference": "ext-1", "days": -3}, "days"),
    ({"reference": "ext-1", "days": 367}, "days"),
    ({"reference": "ext-1", "days": 10**30}, "days"),
    ({"reference": "ext-1", "days": "5"}, "days"),
    ({"reference": "ext-1", "days": 5.0}, "days"),
    ({"reference": "ext-1", "days": True}, "days"),
    ({"reference": "ext-1", "days": None}, "days"),
    ({"reference": "", "days": 5}, "reference"),
    ({"reference": "   ", "days": 5}, "reference"),
    ({"reference": BIG, "days": 5}, "reference"),
    ({"reference": 12, "days": 5}, "reference"),
    ({"reference": ["ext-1"], "days": 5}, "reference"),
])
def test_a_malformed_extension_is_a_400_naming_the_field(carrier, running, body, field):
    response = extend(carrier, "current", body)
    assert response.status_code == 400, response.data
    error = response.get_json()["error"]
    assert (error["code"], error["field"]) == ("invalid_request", field)
    assert carrier.bundles(running)["current"]["end"] == at(30 * DAY)
    assert carrier.count("extensions") == 0


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1, 2]", b'"ext"', b"\xff\xfe",
                                 b"[" * 100_000 + b"]" * 100_000])
def test_a_body_that_is_not_a_json_object_is_a_400(carrier, running, raw):
    response = extend(carrier, "current", raw)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_request"
    assert carrier.count("extensions") == 0


def test_an_extension_needs_the_api_key(carrier, running):
    response = carrier.client.post("/api/v1/bundles/current/extend",
                                   json={"reference": "ext-1", "days": 5},
                                   headers={"X-API-Key": "wrong"})
    assert response.status_code == 401
    assert carrier.count("extensions") == 0
