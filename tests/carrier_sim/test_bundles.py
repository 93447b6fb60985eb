"""Bundle API: applying, queueing, top-ups, data use, expiry, suspend and revoke.

The carrier fixture uses 1000 bytes per second, so 10 seconds use 10 000 bytes.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from carrier_sim.identifiers import iccid_make

from .conftest import GB, START

DAY = 86400
BUNDLE_KEYS = {
    "reference",
    "iccid",
    "bundle_code",
    "kind",
    "state",
    "initial_quantity_bytes",
    "remaining_quantity_bytes",
    "used_bytes",
    "usage_at",
    "unlimited",
    "validity_days",
    "start",
    "end",
    "created",
    "topup_of",
}


def at(seconds: float) -> str:
    """The ISO time `seconds` after the frozen start of the test."""
    return (START + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_apply_on_an_installed_idle_esim_starts_now(carrier):
    iccid = carrier.installed()

    response = carrier.apply(iccid, "order-1", quantity=5 * GB, validity_days=30)

    assert response.status_code == 201
    bundle = response.get_json()
    assert set(bundle) == BUNDLE_KEYS
    assert bundle["state"] == "active"
    assert (bundle["start"], bundle["end"]) == (at(0), at(30 * DAY))
    assert bundle["initial_quantity_bytes"] == bundle["remaining_quantity_bytes"] == 5 * GB
    assert (bundle["used_bytes"], bundle["unlimited"], bundle["topup_of"]) == (0, False, None)


def test_apply_twice_with_the_same_reference_is_a_no_op(carrier):
    iccid = carrier.installed()
    first = carrier.apply(iccid, "order-1")

    again = carrier.apply(iccid, "order-1", quantity=1, validity_days=1)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json() == first.get_json()
    assert list(carrier.bundles(iccid)) == ["order-1"]


def test_the_same_reference_on_another_esim_conflicts(carrier):
    first, second = carrier.installed(), carrier.installed()
    carrier.apply(first, "order-1")

    response = carrier.apply(second, "order-1")

    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "reference_conflict"
    assert carrier.bundles(second) == {}


def test_a_bundle_for_an_esim_not_yet_installed_waits_for_the_install(carrier):
    iccid = carrier.released()
    assert carrier.apply(iccid, "order-1", validity_days=7).get_json()["state"] == "queued"
    carrier.tick(advance_seconds=100)  # install_after_seconds is 20: download at 20, install at 22

    bundle = carrier.bundles(iccid)["order-1"]

    assert carrier.profile(iccid)["profile_state"] == "Installed"
    assert (bundle["state"], bundle["start"], bundle["end"]) == ("active", at(22), at(22 + 7 * DAY))
    assert bundle["used_bytes"] == 78 * 1000  # from 22 s to 100 s


def test_a_renewal_is_queued_and_starts_when_the_data_runs_out(carrier):
    iccid = carrier.installed()
    carrier.apply(iccid, "current", quantity=10_000, validity_days=30)
    queued = carrier.apply(iccid, "renewal", quantity=50_000, validity_days=30).get_json()
    assert (queued["state"], queued["start"], queued["end"]) == ("queued", None, None)

    carrier.tick(advance_seconds=15)

    bundles = carrier.bundles(iccid)
    assert bundles["current"]["state"] == "depleted"
    assert (bundles["current"]["used_bytes"], bundles["current"]["remaining_quantity_bytes"]) == (
        10_000,
        0,
    )
    renewal = bundles["renewal"]
    assert (renewal["state"], renewal["start"], renewal["end"]) == (
        "active",
        at(10),
        at(10 + 30 * DAY),
    )
    assert renewal["used_bytes"] == 5_000


def test_a_renewal_starts_at_expiry_when_that_comes_first(carrier):
    iccid = carrier.installed()
    carrier.apply(iccid, "current", quantity=GB, validity_days=1)
    carrier.apply(iccid, "renewal", quantity=GB, validity_days=30)

    carrier.tick(advance_seconds=DAY + 60)

    bundles = carrier.bundles(iccid)
    assert bundles["current"]["state"] == "expired"
    assert bundles["current"]["used_bytes"] == DAY * 1000
    assert (bundles["renewal"]["state"], bundles["renewal"]["start"]) == ("active", at(DAY))
    assert bundles["renewal"]["used_bytes"] == 60 * 1000


def test_a_long_stretch_of_time_runs_through_several_bundles(carrier):
    iccid = carrier.installed()
    for number in range(3):
        carrier.apply(iccid, f"b{number}", quantity=GB, validity_days=1)

    carrier.tick(advance_seconds=5 * DAY)

    bundles = carrier.bundles(iccid)
    assert [b["state"] for b in bundles.values()] == ["expired"] * 3
    assert [b["start"] for b in bundles.values()] == [at(0), at(DAY), at(2 * DAY)]
    assert carrier.api("get", f"/esims/{iccid}/bundles").get_json()["iccid"] == iccid


def test_a_top_up_adds_data_and_keeps_the_end(carrier):
    iccid = carrier.installed()
    carrier.apply(iccid, "base", quantity=10_000, validity_days=30)
    carrier.tick(advance_seconds=4)

    response = carrier.apply(iccid, "extra", kind="topup", quantity=20_000, validity_days=7)

    assert response.status_code == 201
    topup = response.get_json()
    bundles = carrier.bundles(iccid)
    base = bundles["base"]
    assert (base["initial_quantity_bytes"], base["remaining_quantity_bytes"]) == (30_000, 26_000)
    assert base["end"] == at(30 * DAY)
    assert (topup["state"], topup["topup_of"], topup["end"]) == ("active", "base", at(30 * DAY))
    assert topup["initial_quantity_bytes"] == 20_000


def test_a_top_up_follows_the_bundle_it_topped_up(carrier):
    iccid = carrier.installed()
    carrier.apply(iccid, "base", quantity=10_000, validity_days=1)
    carrier.apply(iccid, "extra", kind="topup", quantity=10_000, validity_days=1)

    carrier.tick(advance_seconds=25)

    bundles = carrier.bundles(iccid)
    assert (bundles["base"]["state"], bundles["extra"]["state"]) == ("depleted", "depleted")
    assert bundles["base"]["used_bytes"] == 20_000


def test_a_top_up_needs_an_active_bundle(carrier):
    iccid = carrier.released()
    carrier.apply(iccid, "queued-one")

    response = carrier.apply(iccid, "extra", kind="topup", quantity=1000)

    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "no_active_bundle"


def test_a_top_up_on_an_unlimited_bundle_is_refused(carrier):
    iccid = carrier.installed()
    carrier.apply(iccid, "unlimited", quantity=None)

    response = carrier.apply(iccid, "extra", kind="topup", quantity=1000)

    assert (response.status_code, response.get_json()["error"]["code"]) == (409, "unlimited_bundle")


def test_an_unlimited_bundle_counts_use_and_only_expires(carrier):
    iccid = carrier.installed()
    carrier.apply(iccid, "unlimited", quantity=None, validity_days=1)

    carrier.tick(advance_seconds=3600)

    bundle = carrier.bundles(iccid)["unlimited"]
    assert bundle["unlimited"] is True
    assert (bundle["initial_quantity_bytes"], bundle["remaining_quantity_bytes"]) == (None, None)
    assert (bundle["state"], bundle["used_bytes"]) == ("active", 3600 * 1000)
    carrier.tick(advance_seconds=DAY)
    assert carrier.bundles(iccid)["unlimited"]["state"] == "expired"


def test_consume_control_uses_data_at_once_and_starts_the_next_bundle(carrier):
    iccid = carrier.installed()
    carrier.apply(iccid, "current", quantity=10_000)
    carrier.apply(iccid, "renewal", quantity=10_000)

    answer = carrier.control("post", f"/sim/profiles/{iccid}/consume", {"bytes": 25_000})

    states = {b["reference"]: b["state"] for b in answer["bundles"]}
    assert states == {"current": "depleted", "renewal": "active"}


def test_a_suspended_esim_uses_no_data(carrier):
    iccid = carrier.installed()
    carrier.apply(iccid, "current", quantity=GB)
    carrier.tick(advance_seconds=10)

    suspended = carrier.api("post", f"/esims/{iccid}/suspend")
    carrier.api("post", f"/esims/{iccid}/suspend")  # idempotent
    carrier.tick(advance_seconds=100)
    carrier.api("post", f"/esims/{iccid}/resume")
    carrier.tick(advance_seconds=5)

    assert suspended.get_json()["suspended"] is True
    assert carrier.profile(iccid)["suspended"] is False
    assert carrier.bundles(iccid)["current"]["used_bytes"] == 15_000


def test_revoking_the_active_bundle_starts_the_next(carrier):
    iccid = carrier.installed()
    carrier.apply(iccid, "current")
    carrier.apply(iccid, "renewal")
    carrier.tick(advance_seconds=50)

    revoked = carrier.api("post", "/bundles/current/revoke")
    again = carrier.api("post", "/bundles/current/revoke")

    assert revoked.status_code == again.status_code == 200
    assert revoked.get_json()["state"] == "revoked"
    assert again.get_json() == revoked.get_json()
    renewal = carrier.bundles(iccid)["renewal"]
    assert (renewal["state"], renewal["start"]) == ("active", at(50))


def test_revoking_a_top_up_takes_its_data_back(carrier):
    iccid = carrier.installed()
    carrier.apply(iccid, "base", quantity=10_000)
    carrier.apply(iccid, "extra", kind="topup", quantity=5_000)

    carrier.api("post", "/bundles/extra/revoke")

    bundles = carrier.bundles(iccid)
    assert bundles["extra"]["state"] == "revoked"
    assert bundles["base"]["remaining_quantity_bytes"] == 10_000


def test_revoking_an_unknown_bundle_is_404(carrier):
    response = carrier.api("post", "/bundles/nope/revoke")

    assert (response.status_code, response.get_json()["error"]["code"]) == (404, "unknown_bundle")


def test_esim_detail_shape(carrier):
    iccid = carrier.released()

    profile = carrier.profile(iccid)

    assert set(profile) == {
        "iccid",
        "profile_state",
        "eid",
        "suspended",
        "smdp_address",
        "matching_id",
    }
    assert (profile["profile_state"], profile["smdp_address"]) == (
        "Released",
        "smdp.carrier-sim.example",
    )


@pytest.mark.parametrize(
    "path", ["/esims/8988247000000000019", "/esims/8988247000000000019/bundles"]
)
def test_unknown_iccid_is_404(carrier, path):
    for method in ("get", "post"):
        if method == "post" and not path.endswith("bundles"):
            continue
        response = carrier.api(method, path, {"reference": "r"} if method == "post" else None)
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "unknown_iccid"


def test_malformed_iccid_in_the_path_is_400(carrier):
    response = carrier.api("get", "/esims/12345")

    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == "iccid"


@pytest.mark.parametrize("key", ["", "wrong"])
def test_the_api_key_is_required(carrier, key):
    iccid = carrier.installed()

    response = carrier.api("post", f"/esims/{iccid}/bundles", {}, key=key)

    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


VALID = {
    "reference": "r-1",
    "bundle_code": "EU",
    "kind": "full",
    "validity_days": 30,
    "initial_quantity_bytes": GB,
}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"reference": ""}, "reference"),
        ({"reference": 5}, "reference"),
        ({"reference": "x" * 200}, "reference"),
        ({"bundle_code": None}, "bundle_code"),
        ({"kind": "monthly"}, "kind"),
        ({"validity_days": 0}, "validity_days"),
        ({"validity_days": "30"}, "validity_days"),
        ({"validity_days": True}, "validity_days"),
        ({"validity_days": 1.5}, "validity_days"),
        ({"initial_quantity_bytes": -1}, "initial_quantity_bytes"),
        ({"initial_quantity_bytes": "1"}, "initial_quantity_bytes"),
        ({"initial_quantity_bytes": 0}, "initial_quantity_bytes"),
        ({"initial_quantity_bytes": [1]}, "initial_quantity_bytes"),
        ({"kind": "topup", "initial_quantity_bytes": None}, "initial_quantity_bytes"),
    ],
)
def test_a_bad_body_is_400_naming_the_field(carrier, change, field):
    iccid = carrier.installed()
    carrier.apply(iccid, "base")

    response = carrier.api("post", f"/esims/{iccid}/bundles", {**VALID, **change})

    assert response.status_code == 400
    assert response.get_json()["error"] | {"message": ""} == {
        "code": "invalid_request",
        "message": "",
        "field": field,
    }
    assert list(carrier.bundles(iccid)) == ["base"]


@pytest.mark.parametrize("raw", [b"not json", b"[]", b"", b"\xff", b"null"])
def test_a_body_that_is_not_an_object_is_400(carrier, raw):
    iccid = carrier.installed()

    response = carrier.client.post(
        f"/api/v1/esims/{iccid}/bundles",
        data=raw,
        content_type="application/json",
        headers={"X-API-Key": carrier.sim.settings.api_key},
    )

    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == "body"


def test_missing_quantity_is_400(carrier):
    iccid = carrier.installed()
    body = {key: value for key, value in VALID.items() if key != "initial_quantity_bytes"}

    response = carrier.api("post", f"/esims/{iccid}/bundles", body)

    assert response.get_json()["error"]["field"] == "initial_quantity_bytes"


def test_a_withdrawn_profile_takes_no_bundles(carrier):
    iccid = carrier.allocated()
    carrier.es2_ok("cancelOrder", {"iccid": iccid, "finalProfileStatusIndicator": "Unavailable"})

    response = carrier.apply(iccid, "late")

    assert (response.status_code, response.get_json()["error"]["code"]) == (
        409,
        "profile_unavailable",
    )


# Many bundles in one call -------------------------------------------------------------

def batch_item(iccid: str, reference: str, **fields) -> dict:
    return {"iccid": iccid, "reference": reference, "bundle_code": "EU-5GB-30D",
            "kind": "full", "validity_days": 30, "initial_quantity_bytes": 5 * GB, **fields}


def test_a_batch_answers_each_item_as_its_single_call_would(carrier):
    installed, other = carrier.installed(), carrier.installed()
    carrier.apply(other, "taken")
    unknown = iccid_make(999_999)  # a valid ICCID the carrier never issued
    items = [batch_item(installed, "a"), batch_item(installed, "a"),
             batch_item(unknown, "b"), batch_item(installed, "c", kind="nonsense"),
             batch_item(installed, "taken"), batch_item(installed, "d"), "not an object"]

    response = carrier.api("post", "/bundles/apply", {"items": items})

    assert response.status_code == 200
    results = response.get_json()["results"]
    assert [r["status"] for r in results] == [201, 200, 404, 400, 409, 201, 400]
    assert [r["reference"] for r in results] == ["a", "a", "b", "c", "taken", "d", None]
    assert results[0]["bundle"] == results[1]["bundle"]
    assert results[0]["bundle"]["state"] == "active" and results[5]["bundle"]["state"] == "queued"
    assert results[2]["error"]["code"] == "unknown_iccid"
    assert results[3]["error"]["field"] == "kind"
    assert results[4]["error"]["code"] == "reference_conflict"
    # The refused items changed nothing; the others are there once.
    assert list(carrier.bundles(installed)) == ["a", "d"]
    assert list(carrier.bundles(other)) == ["taken"]


def test_a_batch_must_have_one_to_a_hundred_items(carrier):
    iccid = carrier.installed()
    for items in ([], [batch_item(iccid, f"r{n}") for n in range(101)], "x", None):
        response = carrier.api("post", "/bundles/apply", {"items": items})
        assert response.status_code == 400 and response.get_json()["error"]["field"] == "items"
    assert carrier.bundles(iccid) == {}
