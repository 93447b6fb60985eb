"""The engine: simulated downloads, the outbox, usage reports and delivery retries."""

from __future__ import annotations

import socket

from carrier_sim.identifiers import eid_validate

from .conftest import GB, Carrier, build_app, make_eid
from .test_bundles import at


def progress(carrier) -> list[dict]:
    return [row["body"] for row in carrier.callbacks("download_progress")]


def test_the_device_downloads_then_installs_after_the_configured_delay(carrier):
    iccid = carrier.released()

    carrier.tick(advance_seconds=19)
    assert carrier.profile(iccid)["profile_state"] == "Released"
    carrier.tick(advance_seconds=1)
    assert carrier.profile(iccid)["profile_state"] == "Downloaded"
    carrier.tick(advance_seconds=2)
    assert carrier.profile(iccid)["profile_state"] == "Installed"

    downloaded, installed = progress(carrier)
    assert downloaded["iccid"] == installed["iccid"] == iccid
    assert (downloaded["notificationPointId"], installed["notificationPointId"]) == (3, 4)
    assert (downloaded["timestamp"], installed["timestamp"]) == (at(20), at(22))
    assert downloaded["notificationPointStatus"] == {"status": "Executed-Success"}
    assert downloaded["profileType"] == "default"
    assert downloaded["header"]["functionRequesterIdentifier"] == "carrier-sim-smdp"
    assert (
        downloaded["header"]["functionCallIdentifier"]
        != installed["header"]["functionCallIdentifier"]
    )
    assert eid_validate(downloaded["eid"]) == installed["eid"] == carrier.profile(iccid)["eid"]


def test_the_device_reports_the_eid_the_order_was_linked_to(carrier):
    eid = make_eid(7)
    iccid = carrier.released(eid=eid)

    carrier.control("post", f"/sim/profiles/{iccid}/download")

    assert [body["eid"] for body in progress(carrier)] == [eid, eid]


def test_a_negative_install_delay_waits_for_the_control_endpoint(tmp_path, frozen_time):
    carrier = Carrier(build_app(tmp_path, install_after_seconds=-1))
    iccid = carrier.released()

    carrier.tick(advance_seconds=30 * 86400)
    assert carrier.profile(iccid)["profile_state"] == "Released"
    carrier.control("post", f"/sim/profiles/{iccid}/download")
    assert carrier.profile(iccid)["profile_state"] == "Installed"
    carrier.sim.close()


def test_download_control_refuses_a_profile_not_released(carrier):
    iccid = carrier.allocated()

    answer = carrier.control("post", f"/sim/profiles/{iccid}/download", expect=409)

    assert answer["error"]["code"] == "invalid_state"


def test_a_failed_download_reports_point_1_and_the_order_can_be_cancelled(carrier):
    iccid = carrier.released()

    carrier.control("post", f"/sim/profiles/{iccid}/download", {"fail": True})

    [report] = progress(carrier)
    assert report["notificationPointId"] == 1
    assert report["notificationPointStatus"]["status"] == "Failed"
    assert carrier.profile(iccid)["profile_state"] == "Error"
    carrier.es2_ok("cancelOrder", {"iccid": iccid, "finalProfileStatusIndicator": "Unavailable"})


def test_bundle_changes_are_reported_at_once_and_usage_periodically(carrier):
    iccid = carrier.installed()
    carrier.apply(iccid, "current", quantity=GB)

    carrier.tick(advance_seconds=59)
    carrier.tick(advance_seconds=1)
    carrier.tick(advance_seconds=30)
    carrier.tick(advance_seconds=30)
    carrier.api("post", "/bundles/current/revoke")

    reports = [row["body"] for row in carrier.callbacks() if row["path"].endswith("/usage")]
    summary = [(r["type"], r["bundle"]["state"], r["bundle"]["used_bytes"]) for r in reports]
    assert summary == [
        ("bundle_state", "active", 0),
        ("usage", "active", 60_000),
        ("usage", "active", 120_000),
        ("bundle_state", "revoked", 120_000),
    ]
    assert reports[1]["reported_at"] == at(60)
    assert len({r["event_id"] for r in reports}) == 4
    assert all(r["iccid"] == iccid for r in reports)


def test_without_a_callback_url_callbacks_are_skipped(carrier):
    carrier.installed()

    assert {row["status"] for row in carrier.callbacks()} == {"skipped"}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_portal_is_retried_with_backoff_then_given_up(carrier):
    carrier.control("post", "/sim/config", {"callback_url": f"http://127.0.0.1:{closed_port()}"})
    carrier.installed()

    first = carrier.callbacks()[0]
    assert (first["status"], first["attempts"]) == ("pending", 1)
    assert "ConnectionRefused" in first["last_error"]
    carrier.tick(advance_seconds=1)
    assert carrier.callbacks()[0]["attempts"] == 1  # the backoff is not over yet
    for _ in range(6):
        carrier.tick(advance_seconds=120)

    assert {(row["status"], row["attempts"]) for row in carrier.callbacks()} == {("failed", 5)}


def test_a_drop_rate_of_one_drops_every_callback(carrier):
    url = f"http://127.0.0.1:{closed_port()}"
    carrier.control("post", "/sim/config", {"callback_url": url, "drop_callback_rate": 1.0})
    carrier.installed()
    carrier.tick(advance_seconds=600)

    rows = carrier.callbacks()
    assert len(rows) == 2
    assert {(row["status"], row["attempts"]) for row in rows} == {("dropped", 0)}
