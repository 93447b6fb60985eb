"""Malformed ES2+ requests: always HTTP 200 with a Failed status, never a 500."""

from __future__ import annotations

import json

import pytest

from .conftest import API_KEY, ES2_HEADERS, PROTOCOL, make_eid

URL = "/gsma/rsp2/es2plus/"
HEADER = {"functionRequesterIdentifier": "portal", "functionCallIdentifier": "c-1"}
BAD_LUHN = "8988247000000000011"  # the check digit of 898824700000000001 is 9


def post(carrier, function, data, *, headers=ES2_HEADERS, content_type="application/json"):
    raw = data if isinstance(data, bytes | str) else json.dumps(data)
    response = carrier.client.post(
        URL + function, data=raw, headers=headers, content_type=content_type
    )
    assert response.status_code == 200, response.data
    assert response.mimetype == "application/json"
    return response.get_json()["header"]["functionExecutionStatus"]


def codes(status: dict) -> tuple[str, str]:
    assert status["status"] == "Failed", status
    return status["statusCodeData"]["subjectCode"], status["statusCodeData"]["reasonCode"]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"{not json", ("1.3.1", "2.1")),
        (b"\xff\xfe\x00", ("1.3.1", "2.1")),
        (b"", ("1.3.1", "2.1")),
        ("[1, 2]", ("1.3.1", "2.1")),
        ("[" * 100_000 + "]" * 100_000, ("1.3.1", "2.1")),
        ({}, ("1.6", "2.2")),
        ({"header": None}, ("1.6", "2.2")),
        ({"header": "x"}, ("1.6", "2.1")),
        ({"header": {"functionCallIdentifier": "c"}}, ("1.6", "2.2")),
        ({"header": {"functionRequesterIdentifier": "p"}}, ("1.6", "2.2")),
        ({"header": {**HEADER, "functionCallIdentifier": ""}}, ("1.6", "2.2")),
        ({"header": {**HEADER, "functionCallIdentifier": 7}}, ("1.6", "2.1")),
        ({"header": {**HEADER, "functionCallIdentifier": "x" * 300}}, ("1.6", "2.1")),
    ],
    ids=[
        "not-json",
        "not-utf8",
        "empty",
        "array",
        "too-deep",
        "no-header",
        "null-header",
        "header-not-object",
        "no-requester",
        "no-call-id",
        "empty-call-id",
        "call-id-number",
        "call-id-too-long",
    ],
)
def test_malformed_body(carrier, data, expected):
    assert codes(post(carrier, "downloadOrder", data)) == expected
    assert carrier.count("profiles") == 0


@pytest.mark.parametrize(
    ("headers", "content_type", "expected"),
    [
        ({"X-Admin-Protocol": PROTOCOL}, "application/json", ("1.1", "1.2")),
        ({**ES2_HEADERS, "X-API-Key": "wrong"}, "application/json", ("1.1", "1.2")),
        ({"X-API-Key": API_KEY}, "application/json", ("1.3.2", "2.2")),
        (
            {**ES2_HEADERS, "X-Admin-Protocol": "gsma/rsp/v1.0.0"},
            "application/json",
            ("1.3.2", "3.1"),
        ),
        ({**ES2_HEADERS, "X-Admin-Protocol": "http/1.1"}, "application/json", ("1.3.2", "3.1")),
        (ES2_HEADERS, "text/plain", ("1.3.1", "2.1")),
        (ES2_HEADERS, "application/x-www-form-urlencoded", ("1.3.1", "2.1")),
    ],
    ids=[
        "no-key",
        "wrong-key",
        "no-protocol",
        "old-protocol",
        "bad-protocol",
        "text-plain",
        "form",
    ],
)
def test_wrong_transport(carrier, headers, content_type, expected):
    body = {"header": HEADER}

    status = post(carrier, "downloadOrder", body, headers=headers, content_type=content_type)

    assert codes(status) == expected
    assert carrier.count("profiles") == 0


def test_content_type_with_charset_is_accepted(carrier):
    status = post(
        carrier, "downloadOrder", {"header": HEADER}, content_type="application/json;charset=UTF-8"
    )

    assert status == {"status": "Executed-Success"}


@pytest.mark.parametrize(
    ("function", "fields", "expected"),
    [
        ("confirmOrder", {"releaseFlag": True}, ("1.6", "2.2")),
        ("confirmOrder", {"iccid": "@ICCID"}, ("1.6", "2.2")),
        ("confirmOrder", {"iccid": "@ICCID", "releaseFlag": "yes"}, ("1.6", "2.1")),
        ("confirmOrder", {"iccid": "@ICCID", "releaseFlag": True, "eid": "123"}, ("8.1.1", "2.1")),
        ("cancelOrder", {"iccid": "@ICCID"}, ("1.6", "2.2")),
        ("cancelOrder", {"finalProfileStatusIndicator": "Available"}, ("1.6", "2.2")),
        ("cancelOrder", {"iccid": "@ICCID", "finalProfileStatusIndicator": "Gone"}, ("1.6", "2.1")),
        ("cancelOrder", {"iccid": "@ICCID", "finalProfileStatusIndicator": []}, ("1.6", "2.1")),
        ("releaseProfile", {}, ("1.6", "2.2")),
        ("releaseProfile", {"iccid": None}, ("1.6", "2.2")),
        ("releaseProfile", {"iccid": "8988247000000000019"}, ("8.2.1", "3.9")),
        ("releaseProfile", {"iccid": "8988247000000000019F"}, ("8.2.1", "3.9")),
        ("releaseProfile", {"iccid": BAD_LUHN}, ("8.2.1", "2.1")),
        ("releaseProfile", {"iccid": "89882470000000000AB"}, ("8.2.1", "2.1")),
        ("releaseProfile", {"iccid": "1234567890123456782"}, ("8.2.1", "2.1")),
        ("releaseProfile", {"iccid": "898824700000000001"}, ("8.2.1", "2.1")),
        ("releaseProfile", {"iccid": 8988247000000000019}, ("8.2.1", "2.1")),
        ("downloadOrder", {"iccid": ""}, ("8.2.1", "2.1")),
        ("downloadOrder", {"eid": make_eid()[:-1] + "0"}, ("8.1.1", "2.1")),
        ("downloadOrder", {"eid": "8904903200000000000000000000000A"}, ("8.1.1", "2.1")),
        ("downloadOrder", {"eid": 12}, ("8.1.1", "2.1")),
        ("downloadOrder", {"profileType": ""}, ("8.2.5", "2.1")),
        ("downloadOrder", {"profileType": ["x"]}, ("8.2.5", "2.1")),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_bad_parameters(carrier, function, fields, expected):
    iccid = carrier.allocated()
    fields = {key: iccid if value == "@ICCID" else value for key, value in fields.items()}

    status = post(carrier, function, {"header": HEADER, **fields})

    assert codes(status) == expected
    assert status["statusCodeData"]["message"]
    assert carrier.profile(iccid)["profile_state"] == "Allocated"
    assert carrier.count("profiles") == 1


def test_body_too_large(carrier):
    big = {"header": HEADER, "padding": "x" * (2 * 1024 * 1024)}

    assert codes(post(carrier, "downloadOrder", big)) == ("1.3.1", "2.1")


def test_unknown_function_and_wrong_method_are_json_errors(carrier):
    assert carrier.client.post(URL + "deleteProfile", headers=ES2_HEADERS).status_code == 404
    response = carrier.client.get(URL + "downloadOrder")
    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == "method_not_allowed"


ODD_VALUES: list[object] = [None, 0, 1.5, True, "", "x" * 1000, "٨٩", [], {}, {"a": [1]}, -1]


@pytest.mark.parametrize(
    "function", ["downloadOrder", "confirmOrder", "cancelOrder", "releaseProfile"]
)
def test_any_odd_value_in_any_field_is_answered_not_crashed(carrier, function):
    fields = [
        "iccid",
        "eid",
        "profileType",
        "releaseFlag",
        "matchingId",
        "confirmationCode",
        "smdsAddress",
        "finalProfileStatusIndicator",
    ]
    iccid = carrier.allocated()
    for number, (field, value) in enumerate((f, v) for f in fields for v in ODD_VALUES):
        header = {"functionRequesterIdentifier": "fuzz", "functionCallIdentifier": str(number)}
        body = {"header": header, "iccid": iccid, "releaseFlag": False, field: value}
        body.setdefault("finalProfileStatusIndicator", "Available")

        status = post(carrier, function, body)

        assert status["status"] in ("Executed-Success", "Failed")
        if status["status"] == "Failed":
            assert status["statusCodeData"]["reasonCode"] != "4.2", (field, value, status)
