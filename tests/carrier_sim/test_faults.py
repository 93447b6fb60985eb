"""Injected latency, hangs and busy answers: they come before any state change."""

from __future__ import annotations

import time

from .conftest import ES2_HEADERS


def test_es2_busy_changes_nothing_and_the_same_call_works_afterwards(carrier):
    carrier.control("post", "/sim/config", {"failure_rate": 1.0})

    answer = carrier.es2("downloadOrder", call_id="order-1")

    status = answer["header"]["functionExecutionStatus"]
    assert status["status"] == "Failed"
    codes = (status["statusCodeData"]["subjectCode"], status["statusCodeData"]["reasonCode"])
    assert codes == ("1.2", "4.4")
    assert carrier.count("profiles") == carrier.count("es2_calls") == 0
    carrier.control("post", "/sim/config", {"failure_rate": 0.0})
    assert carrier.es2_ok("downloadOrder", call_id="order-1")["iccid"]


def test_bundle_api_busy_is_503_and_applies_nothing(carrier):
    iccid = carrier.installed()
    carrier.control("post", "/sim/config", {"failure_rate": 1.0})

    response = carrier.apply(iccid, "order-1")
    listing = carrier.api("get", f"/esims/{iccid}/bundles")

    assert (response.status_code, response.get_json()["error"]["code"]) == (503, "busy")
    assert listing.status_code == 503
    carrier.control("post", "/sim/config", {"failure_rate": 0.0})
    assert carrier.bundles(iccid) == {}


def test_control_endpoints_are_never_busy(carrier):
    carrier.control("post", "/sim/config", {"failure_rate": 1.0})

    assert carrier.control("get", "/sim/health") == {"status": "ok"}
    carrier.tick()


def test_latency_and_hangs_delay_the_answer_but_the_work_is_done(carrier):
    carrier.control(
        "post", "/sim/config", {"latency_ms": 50, "timeout_rate": 1.0, "timeout_seconds": 0.2}
    )
    started = time.perf_counter()

    iccid = carrier.allocated()

    assert time.perf_counter() - started >= 0.25
    assert carrier.profile(iccid)["profile_state"] == "Allocated"


def test_a_stopping_simulator_releases_hanging_calls_as_busy(carrier):
    carrier.control("post", "/sim/config", {"timeout_rate": 1.0, "timeout_seconds": 60})
    carrier.sim.stopping.set()
    started = time.perf_counter()

    response = carrier.client.post(
        "/gsma/rsp2/es2plus/downloadOrder",
        json={"header": {"functionRequesterIdentifier": "p", "functionCallIdentifier": "1"}},
        headers=ES2_HEADERS,
    )

    assert time.perf_counter() - started < 5
    assert response.get_json()["header"]["functionExecutionStatus"]["status"] == "Failed"
    assert carrier.count("profiles") == 0


def test_a_busy_batch_is_503_and_applies_nothing(carrier):
    iccid = carrier.installed()
    carrier.control("post", "/sim/config", {"failure_rate": 1.0})
    response = carrier.api("post", "/bundles/apply", {"items": [{
        "iccid": iccid, "reference": "r1", "bundle_code": "X", "kind": "full",
        "validity_days": 1, "initial_quantity_bytes": 1}]})
    assert response.status_code == 503 and response.get_json()["error"]["code"] == "busy"
    carrier.control("post", "/sim/config", {"failure_rate": 0.0})
    assert carrier.bundles(iccid) == {}
