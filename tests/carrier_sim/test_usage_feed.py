"""The simulator's side of the usage feed: reports that lag real use and say as of when,
and the batch read of many eSIMs' bundles (POST /api/v1/bundles/query).

The carrier fixture uses 1000 bytes per second and a frozen clock.
"""

from __future__ import annotations

import pytest

from carrier_sim.identifiers import iccid_make

from .conftest import GB
from .test_bundles import at


def test_without_a_lag_the_figures_are_as_of_the_last_tick(carrier):
    iccid = carrier.installed()
    carrier.apply(iccid, "b1", quantity=GB)
    carrier.tick(advance_seconds=600)

    bundle = carrier.bundles(iccid)["b1"]

    assert (bundle["used_bytes"], bundle["usage_at"]) == (600_000, at(600))
    assert bundle["remaining_quantity_bytes"] == GB - 600_000


def test_a_lagging_carrier_reports_the_use_of_lag_seconds_ago_and_says_so(carrier):
    carrier.sim.configure({"usage_lag_seconds": 120})
    iccid = carrier.installed()
    carrier.apply(iccid, "b1", quantity=GB)
    carrier.tick(advance_seconds=600)

    bundle = carrier.bundles(iccid)["b1"]
    (batch,) = carrier.api("post", "/bundles/query", {"iccids": [iccid]}).get_json()["results"]

    # 600 s used at the phone; the carrier knows of 480 s of it, as of 120 s ago.
    assert (bundle["used_bytes"], bundle["usage_at"]) == (480_000, at(480))
    assert bundle["remaining_quantity_bytes"] == GB - 480_000
    assert bundle["state"] == "active"  # states are not late, only usage figures
    assert batch["bundles"] == [bundle]


def test_a_lagging_carrier_sends_its_callbacks_late_with_the_time_they_hold_for(carrier):
    carrier.control("post", "/sim/config", {"usage_lag_seconds": 120,
                                            "usage_report_seconds": 60})
    iccid = carrier.installed()
    carrier.apply(iccid, "b1", quantity=GB)
    carrier.tick(advance_seconds=60)
    assert [row["status"] for row in carrier.callbacks("usage")] == ["pending"]

    carrier.tick(advance_seconds=120)

    report = next(row["body"] for row in carrier.callbacks("usage")
                  if row["status"] == "skipped")  # no callback URL: "sent" nowhere
    assert report["reported_at"] == report["bundle"]["usage_at"] == at(60)
    assert report["bundle"]["used_bytes"] == 60_000


def test_a_bundle_that_ended_reports_its_final_figures(carrier):
    carrier.sim.configure({"usage_lag_seconds": 120})
    iccid = carrier.installed()
    carrier.apply(iccid, "b1", quantity=100_000)
    carrier.apply(iccid, "b2", quantity=GB)
    carrier.tick(advance_seconds=1000)

    bundles = carrier.bundles(iccid)

    # b1 ran out after 100 s; b2 started then: 900 s used, of which 780 s are known.
    assert bundles["b1"]["state"] == "depleted"
    assert (bundles["b1"]["used_bytes"], bundles["b1"]["remaining_quantity_bytes"]) == (
        100_000, 0)
    assert bundles["b2"]["state"] == "active"
    assert (bundles["b2"]["used_bytes"], bundles["b2"]["usage_at"]) == (780_000, at(880))


def test_the_batch_read_answers_each_esim_in_order(carrier):
    first, second = carrier.installed(), carrier.installed()
    carrier.apply(first, "b1", quantity=GB)
    unknown = iccid_make(99_999_999)

    response = carrier.api("post", "/bundles/query", {"iccids": [second, unknown, first]})

    assert response.status_code == 200
    results = response.get_json()["results"]
    assert [(r["iccid"], r["status"]) for r in results] == [
        (second, 200), (unknown, 404), (first, 200)]
    assert results[0]["bundles"] == [] and results[0]["profile_state"] == "Installed"
    assert [b["reference"] for b in results[2]["bundles"]] == ["b1"]
    assert results[1]["error"]["code"] == "unknown_iccid"


def test_the_batch_read_takes_a_padded_iccid(carrier):
    iccid = carrier.installed()
    (result,) = carrier.api("post", "/bundles/query",
                            {"iccids": [iccid + "F"]}).get_json()["results"]
    assert (result["iccid"], result["status"]) == (iccid, 200)


@pytest.mark.parametrize("body", [
    {"iccids": []},
    {"iccids": ["@ICCID"] * 101},
    {"iccids": "@ICCID"},
    {"iccids": {"a": "@ICCID"}},
    {"iccids": None},
    {},
    {"iccids": ["@ICCID", "not-an-iccid"]},
    {"iccids": ["@ICCID", 8988]},
    {"iccids": ["@ICCID", "8" * 100_000]},
    {"iccids": ["@ICCID", ["@ICCID"]]},
    {"iccids": ["@ICCID", "٨٩" * 10]},
], ids=["empty", "101", "string", "object", "null", "missing", "bad-iccid", "number",
        "100k", "nested", "arabic-digits"])
def test_the_batch_read_refuses_what_is_not_1_to_100_iccids(carrier, body):
    iccid = carrier.installed()
    carrier.apply(iccid, "b1", quantity=GB)
    before = carrier.bundles(iccid)
    body = {key: _fill(value, iccid) for key, value in body.items()}

    response = carrier.api("post", "/bundles/query", body)

    assert response.status_code == 400, response.data
    error = response.get_json()["error"]
    assert (error["code"], error["field"]) == ("invalid_request", "iccids")
    assert carrier.bundles(iccid) == before


def test_the_batch_read_needs_the_api_key_and_a_json_object(carrier):
    assert carrier.api("post", "/bundles/query", {"iccids": []}, key="wrong").status_code == 401
    response = carrier.client.post("/api/v1/bundles/query", data=b"[1, 2",
                                   headers={"X-API-Key": "test-carrier-key"})
    assert response.status_code == 400


def _fill(value, iccid):
    if isinstance(value, list):
        return [_fill(item, iccid) for item in value]
    if isinstance(value, dict):
        return {key: _fill(item, iccid) for key, item in value.items()}
    return iccid if value == "@ICCID" else value
