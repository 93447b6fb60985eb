"""Carrier callbacks under hostile input: a bad signature header, a body built to crash the
parser, or a signed body with wrong types, absurd numbers or oversized strings is refused
(403 or 400, never a 500) and leaves nothing behind: no CarrierEvent, no eSIM or bundle
changed."""

import hashlib
import hmac
import json

import pytest
from django.urls import reverse

from carrier.models import CarrierEvent
from esims.models import Bundle, ESim
from tests.factories import BundleFactory

from .test_callbacks import post, progress, signed

pytestmark = pytest.mark.django_db

PROGRESS_URL = "/gsma/rsp2/es2plus/handleDownloadProgressInfo"
USAGE_URL = reverse("carrier:usage")
BIG = "x" * 100_000


def sign_raw(raw: bytes, secret: str = "dev-callback-secret") -> str:
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def usage(bundle_row, /, **changes):
    body = {"event_id": "e1", "type": "usage", "iccid": bundle_row.esim.iccid,
            "reported_at": "2026-11-22T12:00:00Z", "bundle": {
                "reference": bundle_row.carrier_reference, "state": "active",
                "initial_quantity_bytes": 5_000_000_000, "remaining_quantity_bytes": 4_000_000_000,
                "unlimited": False, "used_bytes": 1_000_000_000,
                "start": "2026-11-20T10:00:00Z", "end": "2026-11-27T10:00:00Z"}}
    for key, value in changes.items():
        if key.startswith("bundle__"):
            body["bundle"][key.removeprefix("bundle__")] = value
        else:
            body[key] = value
    return body


def with_changes(body, **changes):
    body = json.loads(json.dumps(body))
    for key, value in changes.items():
        if key.startswith("header__"):
            body["header"][key.removeprefix("header__")] = value
        elif key.startswith("status__"):
            body["notificationPointStatus"][key.removeprefix("status__")] = value
        else:
            body[key] = value
    return body


@pytest.fixture
def ready_bundle():
    return BundleFactory(esim__state=ESim.State.READY, data_used_bytes=0)


def snapshot(bundle):
    esim = ESim.objects.get(pk=bundle.esim_id)
    row = Bundle.objects.get(pk=bundle.pk)
    return (esim.state, esim.eid, esim.installed_at, row.state, row.data_used_bytes,
            row.data_allowance_bytes, row.starts_at, row.ends_at, row.usage_reported_at)


@pytest.mark.parametrize("url", [PROGRESS_URL, USAGE_URL])
@pytest.mark.parametrize("header", [
    "sha256=" + "é" * 64,
    "sha256=\xff" + "0" * 63,
    "é",
    "sha256=" + "0" * 64 + "\u00e9",
    "sha256=" + "g" * 64,
    "sha256=" + "0" * 100_000,
])
def test_a_signature_header_that_is_not_ascii_hex_is_refused(client, ready_bundle, url, header):
    raw, _sig = signed(progress(ready_bundle.esim.iccid, 4))
    before = snapshot(ready_bundle)
    assert post(client, url, raw, header).status_code == 403
    assert snapshot(ready_bundle) == before and not CarrierEvent.objects.exists()


@pytest.mark.parametrize("url", [PROGRESS_URL, USAGE_URL])
@pytest.mark.parametrize("raw", [
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    b'{"a":' * 100 + b"1" + b"}" * 100,  # parses, but deeper than any callback
    b"\xff\xfe{\x00}\x00",  # UTF-16, not UTF-8
    b'{"iccid": "\xff"}',
    b"[]",
    b"null",
    b'{"a": NaN}',
    b'{"a": Infinity}',
    b'{"a": 1e999}',
    b'{"a": "\\u0000"}',
    b'{"a": "\\ud800"}',
    b'{"\\u0000": 1}',
    b"1" * 5000,
], ids=["array-100k-deep", "object-100k-deep", "object-100-deep", "utf16", "not-utf8",
        "array", "null", "nan", "infinity", "overflowing-float", "nul-char", "lone-surrogate",
        "nul-key", "huge-int"])
def test_a_signed_body_that_is_not_a_plain_json_object_is_a_400(client, ready_bundle, url,
                                                                 raw):
    before = snapshot(ready_bundle)
    assert post(client, url, raw, sign_raw(raw)).status_code == 400
    assert snapshot(ready_bundle) == before and not CarrierEvent.objects.exists()


@pytest.mark.parametrize("changes", [
    {"notificationPointId": "four"},
    {"notificationPointId": "4.0"},
    {"notificationPointId": " 4"},
    {"notificationPointId": "٤"},
    {"notificationPointId": 4.5},
    {"notificationPointId": True},
    {"notificationPointId": 10**30},
    {"notificationPointId": -4},
    {"notificationPointId": 99},
    {"notificationPointId": None},
    {"iccid": ["8988247000000000001"]},
    {"iccid": BIG},
    {"iccid": "8988247000000000001FF"},
    {"iccid": "89882470000000000012345"},
    {"iccid": "898824700000"},
    {"iccid": "8988247000000000A01"},
    {"iccid": 8988247000000000001},
    {"eid": BIG},
    {"eid": {"a": 1}},
    {"eid": "1234"},
    {"eid": 89049032123451234512345678901235},
    {"timestamp": "2026-11-22T10:00:00"},  # no time zone
    {"timestamp": BIG},
    {"timestamp": 1_700_000_000},
    {"timestamp": "9999-12-31T23:59:59-23:59"},
    {"timestamp": "0001-01-01T00:00:00+05:00"},
    {"profileType": BIG},
    {"profileType": ["default"]},
    {"header__functionCallIdentifier": BIG},
    {"header__functionCallIdentifier": {"id": 1}},
    {"header__functionCallIdentifier": ""},
    {"header": "c1"},
    {"header": None},
    {"notificationPointStatus": "Executed-Success"},
    {"status__status": "Exploded"},
    {"status__status": BIG},
], ids=lambda changes: ",".join(f"{k}={str(v)[:20]}" for k, v in changes.items()))
def test_a_signed_download_report_with_a_bad_field_is_a_400(client, ready_bundle, changes):
    body = with_changes(progress(ready_bundle.esim.iccid, 4), **changes)
    raw, sig = signed(body)
    before = snapshot(ready_bundle)
    assert post(client, PROGRESS_URL, raw, sig).status_code == 400
    assert snapshot(ready_bundle) == before and not CarrierEvent.objects.exists()


@pytest.mark.parametrize("changes", [
    {"event_id": BIG},
    {"event_id": ""},
    {"event_id": {"id": 1}},
    {"event_id": 7},
    {"iccid": BIG},
    {"iccid": ["x"]},
    {"reported_at": "2026-11-22T12:00:00"},
    {"reported_at": 1_700_000_000},
    {"reported_at": BIG},
    {"bundle": ["active"]},
    {"bundle": None},
    {"bundle__reference": BIG},
    {"bundle__reference": 12},
    {"bundle__state": "exploded"},
    {"bundle__state": "ACTIVE"},
    {"bundle__unlimited": "no"},
    {"bundle__unlimited": 0},
    {"bundle__initial_quantity_bytes": "5000000000"},
    {"bundle__initial_quantity_bytes": 10**30},
    {"bundle__initial_quantity_bytes": -1},
    {"bundle__initial_quantity_bytes": 5e9},
    {"bundle__remaining_quantity_bytes": 10**19},
    {"bundle__remaining_quantity_bytes": -5},
    {"bundle__used_bytes": -1},
    {"bundle__used_bytes": 10**30},
    {"bundle__used_bytes": "1"},
    {"bundle__start": "2026-11-20T10:00:00"},
    {"bundle__start": "yesterday"},
    {"bundle__end": 1_700_000_000},
    {"bundle__end": "9999-12-31T23:59:59-23:59"},
    {"bundle__end": "2026-11-19T10:00:00Z"},  # before its start
], ids=lambda changes: ",".join(f"{k}={str(v)[:20]}" for k, v in changes.items()))
def test_a_signed_usage_report_with_a_bad_field_is_a_400(client, ready_bundle, changes):
    raw, sig = signed(usage(ready_bundle, **changes))
    before = snapshot(ready_bundle)
    assert post(client, USAGE_URL, raw, sig).status_code == 400
    assert snapshot(ready_bundle) == before and not CarrierEvent.objects.exists()


def test_unknown_extra_fields_are_ignored_as_sgp22_asks(client, ready_bundle):
    body = progress(ready_bundle.esim.iccid, 4)
    body["newFieldFromSgp22v3"] = {"anything": [1, 2, 3]}
    body["header"]["somethingElse"] = "x"
    raw, sig = signed(body)
    assert post(client, PROGRESS_URL, raw, sig).status_code == 204
    assert ESim.objects.get(pk=ready_bundle.esim_id).state == ESim.State.INSTALLED
    assert CarrierEvent.objects.get().payload == body

    raw, sig = signed({**usage(ready_bundle), "carrier_extra": {"x": 1}})
    assert post(client, USAGE_URL, raw, sig).status_code == 204
    assert Bundle.objects.get(pk=ready_bundle.pk).data_used_bytes == 1_000_000_000


@pytest.mark.parametrize("iccid_form", ["{}F", "{}f", " {} ", "{}"])
def test_the_iccid_is_read_padded_or_not(client, ready_bundle, iccid_form):
    body = progress(ready_bundle.esim.iccid, 4)
    body["iccid"] = iccid_form.format(ready_bundle.esim.iccid)
    raw, sig = signed(body)
    assert post(client, PROGRESS_URL, raw, sig).status_code == 204
    assert ESim.objects.get(pk=ready_bundle.esim_id).state == ESim.State.INSTALLED
    assert CarrierEvent.objects.get().iccid == ready_bundle.esim.iccid


def test_an_unlimited_bundle_report_with_null_quantities_is_taken(client):
    bundle = BundleFactory(data_allowance_bytes=None, data_used_bytes=0)
    raw, sig = signed(usage(bundle, bundle__initial_quantity_bytes=None,
                            bundle__remaining_quantity_bytes=None, bundle__unlimited=True,
                            bundle__used_bytes=123, bundle__start=None, bundle__end=None))
    assert post(client, USAGE_URL, raw, sig).status_code == 204
    bundle.refresh_from_db()
    assert bundle.data_used_bytes == 123 and bundle.state == Bundle.State.ACTIVE


@pytest.mark.parametrize("url", [PROGRESS_URL, USAGE_URL])
@pytest.mark.parametrize("extra", [
    b"NaN", b"-Infinity", b"1e999", b'"\\u0000"', b'"a\\udc00b"', b'{"\\u0000": 1}',
    b"[" * 40 + b"]" * 40,
], ids=["nan", "infinity", "overflowing-float", "nul-char", "lone-surrogate", "nul-key",
        "deep"])
def test_a_valid_signed_callback_carrying_what_cannot_be_stored_is_a_400(client, ready_bundle,
                                                                        url, extra):
    """PostgreSQL's jsonb takes no NaN, no infinity, no NUL and no lone surrogate: such a
    payload used to be a 500 when the CarrierEvent was stored."""
    body = progress(ready_bundle.esim.iccid, 4) if url == PROGRESS_URL else usage(ready_bundle)
    raw = json.dumps(body).encode()[:-1] + b', "vendor": ' + extra + b"}"
    before = snapshot(ready_bundle)
    assert post(client, url, raw, sign_raw(raw)).status_code == 400
    assert snapshot(ready_bundle) == before and not CarrierEvent.objects.exists()


def test_a_point_sent_as_a_string_of_digits_is_read_as_its_number(client, ready_bundle):
    """SM-DP+ vendors differ: some document notificationPointId as a JSON string."""
    body = progress(ready_bundle.esim.iccid, 4)
    body["notificationPointId"] = "4"
    raw, sig = signed(body)
    assert post(client, PROGRESS_URL, raw, sig).status_code == 204
    assert ESim.objects.get(pk=ready_bundle.esim_id).state == ESim.State.INSTALLED


def test_a_point_the_portal_does_not_act_on_is_kept_on_record_only(client, ready_bundle):
    raw, sig = signed(progress(ready_bundle.esim.iccid, 2))
    assert post(client, PROGRESS_URL, raw, sig).status_code == 204
    assert ESim.objects.get(pk=ready_bundle.esim_id).state == ESim.State.READY
    assert CarrierEvent.objects.get().event_key == f"{ready_bundle.esim.iccid}:2:c1"
