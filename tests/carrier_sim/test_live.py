"""A real simulator over HTTP (running_simulator) calling back a tiny local portal."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from carrier_sim.testing import running_simulator

PROTOCOL = "gsma/rsp/v2.5.0"


class Receiver:
    """Stands in for the portal: records each callback and answers 204."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.arrived:
                    receiver.received.append((self.path, dict(self.headers), body))
                    receiver.arrived.notify_all()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self) -> Receiver:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, count: int, timeout: float = 10) -> list[tuple[str, dict, bytes]]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.received) >= count, timeout)
            return list(self.received)


def es2(sim, function: str, call_id: str, **fields) -> dict:
    response = requests.post(
        f"{sim.url}/gsma/rsp2/es2plus/{function}",
        json={
            "header": {"functionRequesterIdentifier": "portal", "functionCallIdentifier": call_id},
            **fields,
        },
        headers={"X-API-Key": sim.api_key, "X-Admin-Protocol": PROTOCOL},
        timeout=10,
    )
    assert response.status_code == 200
    assert response.headers["X-Admin-Protocol"] == PROTOCOL
    return response.json()


def assert_signed(secret: str, headers: dict[str, str], body: bytes) -> dict:
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Signature"], expected)
    assert headers["Content-Type"] == "application/json"
    return json.loads(body)


def test_signed_download_progress_and_usage_callbacks_reach_the_portal():
    with Receiver() as portal, running_simulator(callback_url=portal.url) as sim:
        iccid = es2(sim, "downloadOrder", "c1")["iccid"]
        es2(sim, "confirmOrder", "c2", iccid=iccid, releaseFlag=True)
        applied = requests.post(
            f"{sim.url}/api/v1/esims/{iccid}/bundles",
            json={
                "reference": "order-1",
                "bundle_code": "EU-1GB",
                "kind": "full",
                "validity_days": 7,
                "initial_quantity_bytes": 10**9,
            },
            headers={"X-API-Key": sim.api_key},
            timeout=10,
        )
        assert applied.status_code == 201

        sim.download(iccid)
        received = portal.wait_for(3)
        statuses = {row["status"] for row in sim.callbacks()}

    paths = [path for path, _, _ in received]
    assert paths == [
        "/gsma/rsp2/es2plus/handleDownloadProgressInfo",
        "/gsma/rsp2/es2plus/handleDownloadProgressInfo",
        "/carrier/callbacks/usage",
    ]
    bodies = [assert_signed(sim.callback_secret, headers, body) for _, headers, body in received]
    assert received[0][1]["X-Admin-Protocol"] == PROTOCOL
    assert [b["notificationPointId"] for b in bodies[:2]] == [3, 4]
    assert bodies[0]["iccid"] == iccid
    assert (bodies[2]["type"], bodies[2]["bundle"]["state"]) == ("bundle_state", "active")
    assert statuses == {"delivered"}


def test_a_dropped_callback_never_arrives():
    with (
        Receiver() as portal,
        running_simulator(callback_url=portal.url, drop_callback_rate=1.0) as sim,
    ):
        iccid = es2(sim, "downloadOrder", "c1")["iccid"]
        es2(sim, "confirmOrder", "c2", iccid=iccid, releaseFlag=True)
        sim.download(iccid)
        sim.tick(advance_seconds=3600)

        assert portal.wait_for(1, timeout=0.5) == []
        assert {row["status"] for row in sim.callbacks()} == {"dropped"}


def test_the_engine_thread_downloads_and_reports_by_itself():
    with (
        Receiver() as portal,
        running_simulator(
            callback_url=portal.url, tick_seconds=0.05, install_after_seconds=0
        ) as sim,
    ):
        iccid = es2(sim, "downloadOrder", "c1")["iccid"]
        es2(sim, "confirmOrder", "c2", iccid=iccid, releaseFlag=True)

        received = portal.wait_for(1)
        assert json.loads(received[0][2])["notificationPointId"] == 3
        deadline = time.monotonic() + 10
        while profile_state(sim, iccid) != "Installed":
            assert time.monotonic() < deadline, "the engine thread did not install the eSIM"
            time.sleep(0.1)


def profile_state(sim, iccid: str) -> str:
    response = requests.get(
        f"{sim.url}/api/v1/esims/{iccid}", headers={"X-API-Key": sim.api_key}, timeout=10
    )
    return response.json()["profile_state"]


@pytest.mark.parametrize("same_call_id", [False, True], ids=["distinct", "same"])
def test_concurrent_orders_are_safe(same_call_id):
    with running_simulator() as sim:
        call_ids = ["same"] * 16 if same_call_id else [f"c{n}" for n in range(16)]
        with ThreadPoolExecutor(max_workers=16) as pool:
            answers = list(pool.map(lambda cid: es2(sim, "downloadOrder", cid), call_ids))

        iccids = {answer["iccid"] for answer in answers}
        assert all(
            a["header"]["functionExecutionStatus"]["status"] == "Executed-Success" for a in answers
        )
        assert len(iccids) == (1 if same_call_id else 16)
        with sim.app.extensions["carrier_sim"].store.reading() as conn:
            assert conn.execute("SELECT count(*) FROM profiles").fetchone()[0] == len(iccids)
