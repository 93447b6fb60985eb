"""The carrier calls support's actions make (carrier/client.py): extend a running
bundle, suspend and resume a profile. Each answer is read through the one error
contract: a refusal fails fast for support to see, "not now" may be retried, and a
repeated call does nothing twice."""

import pytest

from carrier import client
from carrier_sim.identifiers import iccid_make
from tests.carrier.test_error_contract import fake_carrier  # noqa: F401 - a fixture
from tests.journeys import install_esim

pytestmark = pytest.mark.django_db

ICCID = "8901234567890123452"


@pytest.fixture
def running(carrier, alice, plans):
    esim = install_esim(carrier, alice, plans["week"])
    return esim, esim.bundles.get()


def test_extend_twice_with_one_reference_extends_once(carrier, running):
    from datetime import timedelta

    esim, bundle = running
    first = client.bundle_extend(reference=bundle.carrier_reference, extension="x-1", days=3)
    again = client.bundle_extend(reference=bundle.carrier_reference, extension="x-1", days=3)
    assert first.end == again.end == bundle.ends_at + timedelta(days=3)
    assert first.state == "active" and first.reference == bundle.carrier_reference


def test_extend_refusals_are_permanent_with_the_carriers_code(carrier, running):
    _esim, bundle = running
    client.bundle_extend(reference=bundle.carrier_reference, extension="x-1", days=3)
    cases = [
        ({"reference": "nobody", "extension": "x-2", "days": 3}, "unknown_bundle"),
        ({"reference": bundle.carrier_reference, "extension": "x-1", "days": 4},
         "reference_conflict"),
        ({"reference": bundle.carrier_reference, "extension": "x-3", "days": 0},
         "invalid_request"),
    ]
    for call, code in cases:
        with pytest.raises(client.CarrierRejected) as caught:
            client.bundle_extend(**call)
        assert caught.value.code == code and not caught.value.retryable


def test_suspend_and_resume_are_safe_to_repeat(carrier, running):
    esim, _bundle = running

    def suspended():
        return carrier.app.test_client().get(
            f"/api/v1/esims/{esim.iccid}", headers={"X-API-Key": carrier.api_key}
        ).json["suspended"]

    for _ in range(2):
        client.esim_suspend(iccid=esim.iccid)
    assert suspended()
    for _ in range(2):
        client.esim_resume(iccid=esim.iccid)
    assert not suspended()
    with pytest.raises(client.CarrierRejected) as caught:
        client.esim_suspend(iccid=iccid_make(1))  # well formed, not this carrier's
    assert caught.value.code == "unknown_iccid"
    with pytest.raises(client.CarrierRejected) as caught:
        client.esim_suspend(iccid="8988247000000000000")  # its check digit is wrong
    assert caught.value.code == "invalid_request"


CALLS = [
    lambda: client.bundle_extend(reference="ES-ABC", extension="x-1", days=3),
    lambda: client.esim_suspend(iccid=ICCID),
    lambda: client.esim_resume(iccid=ICCID),
]


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("status", [400, 404, 409])
def test_a_refusal_whatever_its_body_is_permanent(fake_carrier, call, status):  # noqa: F811
    fake_carrier(status, b"<html>no</html>")
    with pytest.raises(client.CarrierRejected) as caught:
        call()
    assert not caught.value.retryable and caught.value.code == f"http_{status}"


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("status", [429, 500, 503])
def test_not_now_may_be_retried(fake_carrier, call, status):  # noqa: F811
    fake_carrier(status, b"busy", {"Content-Type": "text/plain", "Retry-After": "30"})
    with pytest.raises(client.CarrierUnavailable) as caught:
        call()
    assert caught.value.retryable and caught.value.retry_after == 30


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("body", [
    b"not json", b"[]", b"{}", b'{"suspended": "yes"}', b'{"reference": 5, "state": "x"}',
])
def test_an_unreadable_answer_is_the_carriers_fault_and_may_pass(fake_carrier, call,  # noqa: F811
                                                                 body):
    fake_carrier(200, body, {"Content-Type": "application/json"})
    with pytest.raises(client.CarrierUnavailable) as caught:
        call()
    assert caught.value.retryable and caught.value.code == "protocol"


@pytest.mark.parametrize("call, answer", [
    (lambda: client.esim_suspend(iccid=ICCID), b'{"suspended": false}'),
    (lambda: client.esim_resume(iccid=ICCID), b'{"suspended": true}'),
])
def test_a_profile_left_as_it_was_is_not_taken_as_done(fake_carrier, call, answer):  # noqa: F811
    fake_carrier(200, answer, {"Content-Type": "application/json"})
    with pytest.raises(client.CarrierUnavailable):
        call()


def test_carrier_calls_refuse_to_run_inside_a_transaction(settings):
    from django.db import transaction

    from portal.errors import CallInsideTransaction

    with transaction.atomic(), pytest.raises(CallInsideTransaction):
        client.esim_suspend(iccid=ICCID)
