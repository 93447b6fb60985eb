"""The simulator under hostile requests: ES2+ answers Failed with an SGP.22 status code,
the bundle and control APIs answer a 400 JSON error, never a 500, and nothing is stored
or changed."""

from __future__ import annotations

import json

import pytest

from .conftest import API_KEY, ES2_HEADERS, GB

URL = "/gsma/rsp2/es2plus/"
HEADER = {"functionRequesterIdentifier": "portal", "functionCallIdentifier": "c-1"}
BIG = "x" * 100_000
NESTED = [
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
]
FUNCTIONS = ["downloadOrder", "confirmOrder", "cancelOrder", "releaseProfile"]


def es2(carrier, function, data, *, headers=ES2_HEADERS):
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    response = carrier.client.post(URL + function, data=raw, headers=headers,
                                   content_type="application/json")
    assert response.status_code == 200, response.data
    assert response.mimetype == "application/json"
    # Whatever the request said, the answer's headers must go out on the wire (latin-1).
    for value in response.headers.values():
        value.encode("latin-1")
    status = response.get_json()["header"]["functionExecutionStatus"]
    return status


def failed(status) -> tuple[str, str]:
    assert status["status"] == "Failed", status
    return status["statusCodeData"]["subjectCode"], status["statusCodeData"]["reasonCode"]


def api_error(response, status=400):
    assert response.status_code == status, response.data
    assert response.mimetype == "application/json"
    return response.get_json()["error"]


def profiles(carrier):
    with carrier.sim.store.reading() as conn:
        return [dict(row) for row in conn.execute("SELECT * FROM profiles ORDER BY iccid")]


def bundles(carrier):
    with carrier.sim.store.reading() as conn:
        return [dict(row) for row in conn.execute("SELECT * FROM bundles ORDER BY id")]


# ES2+ ---------------------------------------------------------------------------------

@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("key", ["é", "\xff" * 10, API_KEY + "é", "٣"])
def test_es2_an_api_key_that_is_not_ascii_is_refused(carrier, function, key):
    assert failed(es2(carrier, function, {"header": HEADER},
                      headers={**ES2_HEADERS, "X-API-Key": key})) == ("1.1", "1.2")
    assert carrier.count("profiles") == 0


@pytest.mark.parametrize("protocol", ["gsma/rsp/v2.٥.0", "gsma/rsp/v٢.5.0", "gsma/rsp/v2.5.0é",
                                      "é", "gsma/rsp/v2.5." + "0" * 10_000])
def test_es2_an_odd_protocol_header_is_refused_and_not_echoed(carrier, protocol):
    status = es2(carrier, "downloadOrder", {"header": HEADER},
                 headers={**ES2_HEADERS, "X-Admin-Protocol": protocol})
    assert failed(status) == ("1.3.2", "3.1")
    assert carrier.count("profiles") == 0


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("raw", NESTED, ids=["array", "object"])
def test_es2_a_deeply_nested_body_is_a_format_error(carrier, function, raw):
    assert failed(es2(carrier, function, raw)) == ("1.3.1", "2.1")
    assert carrier.count("profiles") == 0 and carrier.count("es2_calls") == 0


@pytest.mark.parametrize("depth", [200, 900, 990])
def test_es2_a_deep_but_parseable_extra_field_is_answered(carrier, depth):
    body = json.dumps({"header": HEADER}).encode()[:-1]
    body += b', "extra": ' + b"[" * depth + b"]" * depth + b"}"
    status = es2(carrier, "downloadOrder", body)
    assert status["status"] in ("Executed-Success", "Failed")
    if status["status"] == "Failed":
        assert failed(status) == ("1.3.1", "2.1")


@pytest.mark.parametrize(("fields", "expected"), [
    ({"releaseFlag": True, "confirmationCode": BIG}, ("1.6", "2.1")),
    ({"releaseFlag": True, "smdsAddress": BIG, "eid": "@EID"}, ("1.6", "2.1")),
    ({"releaseFlag": True, "matchingId": "A" * 100_000}, ("8.2.6", "2.1")),
    ({"releaseFlag": True, "eid": BIG}, ("8.1.1", "2.1")),
    ({"releaseFlag": True, "iccid": BIG}, ("8.2.1", "2.1")),
    ({"releaseFlag": True, "iccid": ["@ICCID"]}, ("8.2.1", "2.1")),
    ({"releaseFlag": 1}, ("1.6", "2.1")),
    ({"releaseFlag": "true"}, ("1.6", "2.1")),
    ({"releaseFlag": True, "confirmationCode": 12345}, ("1.6", "2.1")),
], ids=["confirmation-code-100k", "smds-100k", "matching-id-100k", "eid-100k", "iccid-100k",
        "iccid-list", "release-flag-int", "release-flag-string", "confirmation-code-int"])
def test_es2_confirm_order_with_a_bad_field_fails_and_stores_nothing(carrier, fields, expected):
    from .conftest import make_eid

    iccid = carrier.allocated()
    before = profiles(carrier)
    body = {"header": HEADER, "iccid": iccid, **fields}
    body = {key: iccid if value == "@ICCID" else make_eid() if value == "@EID" else value
            for key, value in body.items()}
    if isinstance(body["iccid"], list):
        body["iccid"] = [iccid]
    assert failed(es2(carrier, "confirmOrder", body)) == expected
    assert profiles(carrier) == before


@pytest.mark.parametrize(("fields", "expected"), [
    ({"profileType": BIG}, ("8.2.5", "2.1")),
    ({"eid": ["x"]}, ("8.1.1", "2.1")),
    ({"iccid": {"a": 1}}, ("8.2.1", "2.1")),
    ({"eid": float("nan")}, ("8.1.1", "2.1")),
], ids=["profile-type-100k", "eid-list", "iccid-object", "eid-nan"])
def test_es2_download_order_with_a_bad_field_fails_and_stores_nothing(carrier, fields,
                                                                      expected):
    assert failed(es2(carrier, "downloadOrder", {"header": HEADER, **fields})) == expected
    assert carrier.count("profiles") == 0


def test_es2_cancel_order_with_an_oversized_matching_id_fails(carrier):
    iccid = carrier.allocated()
    before = profiles(carrier)
    body = {"header": HEADER, "iccid": iccid, "finalProfileStatusIndicator": "Available",
            "matchingId": "A" * 100_000}
    assert failed(es2(carrier, "cancelOrder", body)) == ("8.2.6", "2.1")
    assert profiles(carrier) == before


# Bundle API ---------------------------------------------------------------------------

@pytest.mark.parametrize("key", ["é", "\xff" * 10, API_KEY + "é"])
def test_api_a_key_that_is_not_ascii_is_a_401(carrier, key):
    iccid = carrier.installed()
    assert api_error(carrier.api("get", f"/esims/{iccid}", key=key), 401)["code"] == "unauthorized"
    response = carrier.api("post", f"/esims/{iccid}/bundles", {"reference": "r"}, key=key)
    assert api_error(response, 401)["code"] == "unauthorized"
    assert bundles(carrier) == []


@pytest.mark.parametrize("path", ["/esims/{iccid}/bundles", "/bundles/apply"])
@pytest.mark.parametrize("raw", NESTED, ids=["array", "object"])
def test_api_a_deeply_nested_body_is_a_400(carrier, path, raw):
    iccid = carrier.installed()
    response = carrier.client.post("/api/v1" + path.format(iccid=iccid), data=raw,
                                   headers={"X-API-Key": API_KEY},
                                   content_type="application/json")
    assert api_error(response)["field"] == "body"
    assert bundles(carrier) == []


GOOD_APPLY = {"reference": "order-1", "bundle_code": "EU-5GB-30D", "kind": "full",
              "validity_days": 30, "initial_quantity_bytes": 5 * GB}


@pytest.mark.parametrize(("changes", "field"), [
    ({"validity_days": "7"}, "validity_days"),
    ({"validity_days": 7.0}, "validity_days"),
    ({"validity_days": True}, "validity_days"),
    ({"validity_days": -1}, "validity_days"),
    ({"validity_days": 10**30}, "validity_days"),
    ({"initial_quantity_bytes": "5"}, "initial_quantity_bytes"),
    ({"initial_quantity_bytes": -5}, "initial_quantity_bytes"),
    ({"initial_quantity_bytes": 10**30}, "initial_quantity_bytes"),
    ({"initial_quantity_bytes": 1.5}, "initial_quantity_bytes"),
    ({"reference": BIG}, "reference"),
    ({"reference": ["order-1"]}, "reference"),
    ({"reference": "   "}, "reference"),
    ({"bundle_code": BIG}, "bundle_code"),
    ({"bundle_code": {"a": 1}}, "bundle_code"),
    ({"kind": ["full"]}, "kind"),
    ({"kind": BIG}, "kind"),
], ids=lambda value: str(value)[:30] if isinstance(value, dict) else value)
def test_api_apply_with_a_bad_field_is_a_400_naming_it(carrier, changes, field):
    iccid = carrier.installed()
    response = carrier.api("post", f"/esims/{iccid}/bundles", {**GOOD_APPLY, **changes})
    error = api_error(response)
    assert (error["code"], error["field"]) == ("invalid_request", field)
    assert bundles(carrier) == []


@pytest.mark.parametrize("items", [
    [{"iccid": ["x"], **GOOD_APPLY}],
    [{"iccid": {"a": 1}, **GOOD_APPLY}],
    [{"iccid": BIG, **GOOD_APPLY}],
    [{"iccid": "@ICCID", **GOOD_APPLY, "validity_days": "30"}],
    [{"iccid": "@ICCID", **GOOD_APPLY, "reference": BIG}],
    [["@ICCID"]],
    ["@ICCID"],
    [None],
], ids=["iccid-list", "iccid-object", "iccid-100k", "validity-string", "reference-100k",
        "item-list", "item-string", "item-null"])
def test_api_batch_items_with_bad_fields_are_refused_one_by_one(carrier, items):
    iccid = carrier.installed()
    items = json.loads(json.dumps(items).replace("@ICCID", iccid))
    response = carrier.api("post", "/bundles/apply", {"items": items})
    assert response.status_code == 200, response.data
    (result,) = response.get_json()["results"]
    assert result["status"] == 400 and result["error"]["code"] == "invalid_request"
    # A reference that is not a short string is not echoed back.
    assert result["reference"] is None or len(result["reference"]) <= 128
    assert bundles(carrier) == []


@pytest.mark.parametrize("items", [None, "x", {"a": 1}, [], [GOOD_APPLY] * 101, 5])
def test_api_batch_without_a_list_of_1_to_100_items_is_a_400(carrier, items):
    response = carrier.api("post", "/bundles/apply", {"items": items})
    assert api_error(response)["field"] == "items"


@pytest.mark.parametrize("iccid", ["é" * 19, "٨٩" * 10, "8" * 100_000])
def test_api_an_odd_iccid_in_the_path_is_a_400(carrier, iccid):
    assert api_error(carrier.api("get", f"/esims/{iccid}"))["field"] == "iccid"
    response = carrier.api("post", f"/esims/{iccid}/bundles", GOOD_APPLY)
    assert api_error(response)["field"] == "iccid"


# Control ------------------------------------------------------------------------------

@pytest.mark.parametrize("body", [
    {"advance_seconds": 10**11},  # 3 000 years in one step
    {"advance_seconds": 10**12 - 1},  # past the year 9999: every date would fail to print
    {"advance_seconds": 1e300},
    {"advance_seconds": -1},
    {"advance_seconds": "60"},
    {"advance_seconds": True},
    {"advance_seconds": [60]},
], ids=["huge", "past-9999", "huge-float", "negative", "string", "bool", "list"])
def test_control_tick_refuses_what_is_not_a_sane_step_and_keeps_the_clock(carrier, body):
    now = carrier.sim.clock.now()
    error = api_error(carrier.client.post("/sim/tick", json=body))
    assert (error["code"], error["field"]) == ("invalid_request", "advance_seconds")
    assert carrier.sim.clock.now() == now
    assert carrier.tick()["now"]  # still answers


def test_control_tick_never_moves_the_clock_past_the_dates_it_can_write(carrier):
    from carrier_sim.clock import CLOCK_LIMIT

    carrier.sim.clock.advance(CLOCK_LIMIT - carrier.sim.clock.now() - 100)
    error = api_error(carrier.client.post("/sim/tick", json={"advance_seconds": 1000}))
    assert error["field"] == "advance_seconds"
    assert carrier.tick(advance_seconds=50)["now"].startswith("8999-12-31T23:5")


@pytest.mark.parametrize("path", ["/sim/tick", "/sim/profiles", "/sim/config"])
@pytest.mark.parametrize("raw", NESTED, ids=["array", "object"])
def test_control_a_deeply_nested_body_is_a_400(carrier, path, raw):
    response = carrier.client.post(path, data=raw, content_type="application/json")
    assert api_error(response)["field"] == "body"


@pytest.mark.parametrize(("body", "field"), [
    ({"count": "2"}, "count"),
    ({"count": 2.5}, "count"),
    ({"count": 0}, "count"),
    ({"count": 10**30}, "count"),
    ({"profile_type": BIG}, "profile_type"),
    ({"profile_type": ["default"]}, "profile_type"),
    ({"profile_type": ""}, "profile_type"),
])
def test_control_profiles_refuses_bad_fields(carrier, body, field):
    error = api_error(carrier.client.post("/sim/profiles", json=body))
    assert error["field"] == field
    assert carrier.count("profiles") == 0


@pytest.mark.parametrize(("body", "field"), [
    ({"fail": "yes"}, "fail"),
    ({"fail": 1}, "fail"),
    ({"fail": [True]}, "fail"),
])
def test_control_download_refuses_a_fail_flag_that_is_not_a_boolean(carrier, body, field):
    iccid = carrier.released()
    error = api_error(carrier.client.post(f"/sim/profiles/{iccid}/download", json=body))
    assert error["field"] == field
    assert carrier.profile(iccid)["profile_state"] == "Released"


@pytest.mark.parametrize("body", [
    {"bytes": "100"}, {"bytes": -1}, {"bytes": 10**30}, {"bytes": True}, {"bytes": [1]},
])
def test_control_consume_refuses_bad_byte_counts(carrier, body):
    iccid = carrier.installed()
    carrier.apply(iccid, "order-1")
    before = bundles(carrier)
    error = api_error(carrier.client.post(f"/sim/profiles/{iccid}/consume", json=body))
    assert error["field"] == "bytes"
    assert bundles(carrier) == before


@pytest.mark.parametrize("changes", [
    {"callback_url": "http://127.0.0.1:8000/" + "a" * 100_000},
    {"callback_url": "http://exämple.test"},
    {"callback_url": "http://127.0.0.1:99999"},
    {"latency_ms": [1]},
    {"latency_ms": {"a": 1}},
    {"failure_rate": BIG},
    {"api_key": "changed"},
    {BIG: 1},
], ids=["url-100k", "url-not-ascii", "url-bad-port", "list", "object", "string-100k",
        "not-runtime", "name-100k"])
def test_control_config_refuses_bad_settings_and_keeps_the_old_ones(carrier, changes):
    before = carrier.sim.settings
    api_error(carrier.client.post("/sim/config", json=changes))
    assert carrier.sim.settings == before


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999", "http://a..b", "http://" + "a" * 300])
def test_a_callback_to_an_unusable_url_is_retried_not_a_500(carrier, url):
    """A URL set before it was checked (from the environment, say) must not make every
    request that sends callbacks, and every tick, fail."""
    carrier.sim.settings = carrier.sim.settings.replace(callback_url=url)
    iccid = carrier.released()
    carrier.control("post", f"/sim/profiles/{iccid}/download")
    (callback, *_) = carrier.callbacks("download_progress")
    assert callback["status"] == "pending" and callback["attempts"] == 1
    assert callback["last_error"]
    assert carrier.tick(advance_seconds=60)["callbacks"]["retry"] >= 1


ODD_VALUES: list[object] = [None, 0, -1, 1.5, True, "", "7", BIG, "٨٩", [], {}, {"a": [1]},
                            10**30, float("nan"), float("inf")]


def test_any_odd_value_in_any_field_is_answered_not_crashed(carrier):
    iccid = carrier.installed()
    calls = [("/api/v1/esims/{iccid}/bundles", GOOD_APPLY),
             ("/api/v1/bundles/apply", {"items": [{"iccid": iccid, **GOOD_APPLY}]}),
             ("/sim/tick", {"advance_seconds": 1}),
             ("/sim/profiles", {"count": 1, "profile_type": "default"}),
             ("/sim/profiles/{iccid}/consume", {"bytes": 1}),
             ("/sim/profiles/{iccid}/download", {"fail": False}),
             ("/sim/config", {"latency_ms": 0})]
    for path, good in calls:
        for field in [*good, "items"]:
            for value in ODD_VALUES:
                body = {**good, field: value}
                response = carrier.client.post(path.format(iccid=iccid), json=body,
                                               headers={"X-API-Key": API_KEY})
                assert response.status_code < 500, (path, field, value, response.data)
                assert response.mimetype == "application/json"
