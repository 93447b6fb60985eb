"""ES2+ functions: success paths, state rules, failures and retried calls."""

from __future__ import annotations

import re

import pytest

from carrier_sim.identifiers import luhn_check_digit

from .conftest import ES2_HEADERS, make_eid

MATCHING_ID = re.compile(r"[0-9A-Z]{5}(-[0-9A-Z]{5}){3}")


def failed(answer: dict) -> tuple[str, str]:
    status = answer["header"]["functionExecutionStatus"]
    assert status["status"] == "Failed", answer
    data = status["statusCodeData"]
    assert set(data) == {"subjectCode", "reasonCode", "subjectIdentifier", "message"}
    return data["subjectCode"], data["reasonCode"]


def test_download_order_creates_and_allocates_a_profile(carrier):
    answer = carrier.es2_ok("downloadOrder")

    iccid = answer["iccid"]
    assert re.fullmatch(r"8988247\d{12}", iccid)
    assert luhn_check_digit(iccid[:-1]) == iccid[-1]
    assert carrier.profile(iccid)["profile_state"] == "Allocated"


def test_download_order_with_eid_links_the_profile(carrier):
    eid = make_eid()

    iccid = carrier.allocated(eid=eid, profileType="travel")

    profile = carrier.profile(iccid)
    assert (profile["profile_state"], profile["eid"]) == ("Linked", eid)


def test_download_order_takes_an_available_profile_padded_with_f(carrier):
    [iccid] = carrier.control("post", "/sim/profiles", {"count": 1}, expect=201)["iccids"]

    answer = carrier.es2_ok("downloadOrder", {"iccid": iccid + "F", "profileType": "default"})

    assert answer["iccid"] == iccid
    assert carrier.profile(iccid)["profile_state"] == "Allocated"


def test_download_order_refuses_a_profile_that_is_not_available(carrier):
    iccid = carrier.allocated()

    assert failed(carrier.es2("downloadOrder", {"iccid": iccid})) == ("8.2.1", "3.3")


def test_download_order_refuses_a_different_profile_type(carrier):
    [iccid] = carrier.control("post", "/sim/profiles", {"count": 1}, expect=201)["iccids"]

    answer = carrier.es2("downloadOrder", {"iccid": iccid, "profileType": "other"})

    assert failed(answer) == ("8.2.5", "3.8")


def test_confirm_order_without_release_confirms(carrier):
    eid = make_eid()
    iccid = carrier.allocated(eid=eid)

    answer = carrier.es2_ok("confirmOrder", {"iccid": iccid, "releaseFlag": False})

    assert answer["eid"] == eid
    assert MATCHING_ID.fullmatch(answer["matchingId"])
    assert answer["smdpAddress"] == "smdp.carrier-sim.example"
    profile = carrier.profile(iccid)
    assert profile["profile_state"] == "Confirmed"
    assert profile["matching_id"] == answer["matchingId"]


def test_confirm_order_with_release_releases_and_keeps_given_matching_id(carrier):
    iccid = carrier.allocated()

    answer = carrier.es2_ok(
        "confirmOrder",
        {"iccid": iccid, "releaseFlag": True, "matchingId": "K2-4HJ7T-1A2B3C"},
    )

    assert "eid" not in answer
    assert answer["matchingId"] == "K2-4HJ7T-1A2B3C"
    assert carrier.profile(iccid)["profile_state"] == "Released"


def test_confirm_order_refuses_a_matching_id_in_use(carrier):
    first, second = carrier.allocated(), carrier.allocated()
    carrier.es2_ok("confirmOrder", {"iccid": first, "releaseFlag": False, "matchingId": "ABC-1"})

    answer = carrier.es2(
        "confirmOrder", {"iccid": second, "releaseFlag": False, "matchingId": "ABC-1"}
    )

    assert failed(answer) == ("8.2.6", "3.3")


@pytest.mark.parametrize("matching_id", ["lower-case", "WITH SPACE", "X" * 256])
def test_confirm_order_refuses_a_malformed_matching_id(carrier, matching_id):
    iccid = carrier.allocated()

    answer = carrier.es2(
        "confirmOrder", {"iccid": iccid, "releaseFlag": True, "matchingId": matching_id}
    )

    assert failed(answer) == ("8.2.6", "2.1")


def test_confirm_order_refuses_another_eid_than_the_linked_one(carrier):
    iccid = carrier.allocated(eid=make_eid(1))

    answer = carrier.es2("confirmOrder", {"iccid": iccid, "releaseFlag": True, "eid": make_eid(2)})

    assert failed(answer) == ("8.1.1", "3.10")


@pytest.mark.parametrize(
    "extra", [{"matchingId": ""}, {"smdsAddress": "lpa.ds.gsma.com"}], ids=["empty-mid", "smds"]
)
def test_confirm_order_needs_an_eid_without_activation_code(carrier, extra):
    iccid = carrier.allocated()

    answer = carrier.es2("confirmOrder", {"iccid": iccid, "releaseFlag": True, **extra})

    assert failed(answer) == ("8.1.1", "2.2")


def test_confirm_order_twice_is_an_invalid_transition(carrier):
    iccid = carrier.released()

    answer = carrier.es2("confirmOrder", {"iccid": iccid, "releaseFlag": True})

    assert failed(answer) == ("8.2.1", "3.5")


def test_release_profile_releases_a_confirmed_profile(carrier):
    iccid = carrier.allocated()
    carrier.es2_ok("confirmOrder", {"iccid": iccid, "releaseFlag": False})

    carrier.es2_ok("releaseProfile", {"iccid": iccid})

    assert carrier.profile(iccid)["profile_state"] == "Released"


def test_release_profile_refuses_a_profile_that_is_not_confirmed(carrier):
    iccid = carrier.allocated()

    assert failed(carrier.es2("releaseProfile", {"iccid": iccid})) == ("8.2.1", "3.5")


def test_cancel_order_back_to_available_forgets_the_order(carrier):
    iccid = carrier.allocated(eid=make_eid())
    confirmed = carrier.es2_ok("confirmOrder", {"iccid": iccid, "releaseFlag": True})

    carrier.es2_ok(
        "cancelOrder",
        {
            "iccid": iccid,
            "eid": confirmed["eid"],
            "matchingId": confirmed["matchingId"],
            "finalProfileStatusIndicator": "Available",
        },
    )

    profile = carrier.profile(iccid)
    assert (profile["profile_state"], profile["eid"], profile["matching_id"]) == (
        "Available",
        None,
        None,
    )


def test_cancel_order_to_unavailable(carrier):
    iccid = carrier.allocated()

    carrier.es2_ok("cancelOrder", {"iccid": iccid, "finalProfileStatusIndicator": "Unavailable"})

    assert carrier.profile(iccid)["profile_state"] == "Unavailable"
    assert failed(carrier.es2("downloadOrder", {"iccid": iccid})) == ("8.2.1", "3.3")


def test_cancel_order_refuses_another_matching_id(carrier):
    iccid = carrier.released()

    answer = carrier.es2(
        "cancelOrder",
        {"iccid": iccid, "matchingId": "OTHER-1", "finalProfileStatusIndicator": "Available"},
    )

    assert failed(answer) == ("8.2.6", "3.10")


def test_cancel_order_refuses_an_installed_profile(carrier):
    iccid = carrier.installed()

    answer = carrier.es2(
        "cancelOrder", {"iccid": iccid, "finalProfileStatusIndicator": "Available"}
    )

    assert failed(answer) == ("8.2.1", "3.3")
    assert carrier.profile(iccid)["profile_state"] == "Installed"


def test_cancel_order_revokes_bundles_waiting_for_the_profile(carrier):
    iccid = carrier.released()
    assert carrier.apply(iccid, "order-1").status_code == 201

    carrier.es2_ok("cancelOrder", {"iccid": iccid, "finalProfileStatusIndicator": "Available"})

    assert carrier.bundles(iccid)["order-1"]["state"] == "revoked"


def test_responses_echo_the_protocol_and_are_json(carrier):
    response = carrier.client.post(
        "/gsma/rsp2/es2plus/downloadOrder",
        json={"header": {"functionRequesterIdentifier": "p", "functionCallIdentifier": "1"}},
        headers={**ES2_HEADERS, "X-Admin-Protocol": "gsma/rsp/v2.2.0"},
    )

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["X-Admin-Protocol"] == "gsma/rsp/v2.2.0"


# Retried calls ---------------------------------------------------------------


def test_a_retried_call_gets_the_same_answer_and_allocates_nothing(carrier):
    first = carrier.es2_ok("downloadOrder", call_id="retry-me")

    again = carrier.es2_ok("downloadOrder", call_id="retry-me")

    assert again == first
    assert carrier.count("profiles") == 1


def test_a_retried_failed_call_gets_the_same_failure(carrier):
    iccid = carrier.allocated()
    body = {"iccid": iccid}
    first = carrier.es2("releaseProfile", body, call_id="r-1")
    carrier.es2_ok("confirmOrder", {"iccid": iccid, "releaseFlag": False})

    again = carrier.es2("releaseProfile", body, call_id="r-1")

    assert again == first
    assert carrier.profile(iccid)["profile_state"] == "Confirmed"


def test_the_call_id_is_scoped_by_requester_and_function(carrier):
    carrier.es2_ok("downloadOrder", call_id="same", requester="portal-a")
    carrier.es2_ok("downloadOrder", call_id="same", requester="portal-b")
    iccid = carrier.allocated()
    carrier.es2_ok("confirmOrder", {"iccid": iccid, "releaseFlag": False}, call_id="same")

    assert carrier.count("profiles") == 3


def test_a_call_id_reused_for_a_different_request_is_refused(carrier):
    carrier.es2_ok("downloadOrder", {"eid": make_eid(1)}, call_id="dup")

    answer = carrier.es2("downloadOrder", {"eid": make_eid(2)}, call_id="dup")

    assert failed(answer) == ("1.6", "3.3")
    assert carrier.count("profiles") == 1
