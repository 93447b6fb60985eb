"""Fixtures for the carrier simulator tests: an app on a temporary SQLite file.

Time is frozen with time-machine, so data use only happens when a test moves
the simulator's clock (POST /sim/tick {"advance_seconds": n}) and byte counts
can be asserted exactly.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient

from carrier_sim import Settings, create_app
from carrier_sim.identifiers import eid_check_digits
from carrier_sim.simulator import EXTENSION_KEY, Simulator

API_KEY = "test-carrier-key"
PROTOCOL = "gsma/rsp/v2.5.0"
ES2_HEADERS = {"X-API-Key": API_KEY, "X-Admin-Protocol": PROTOCOL}
START = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
GB = 1_000_000_000


def make_eid(serial: int = 1) -> str:
    body = f"89049032{serial:022d}"
    return body + eid_check_digits(body)


class Carrier:
    """Drives one simulator app through its HTTP interface (Flask test client)."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.client: FlaskClient = app.test_client()
        self._call_ids = itertools.count(1)

    @property
    def sim(self) -> Simulator:
        return self.app.extensions[EXTENSION_KEY]

    # ES2+ -----------------------------------------------------------------
    def es2(
        self,
        function: str,
        fields: dict[str, Any] | None = None,
        *,
        call_id: str | None = None,
        requester: str = "portal",
    ) -> dict[str, Any]:
        body = {
            "header": {
                "functionRequesterIdentifier": requester,
                "functionCallIdentifier": call_id or f"call-{next(self._call_ids)}",
            },
            **(fields or {}),
        }
        response = self.client.post(
            f"/gsma/rsp2/es2plus/{function}", json=body, headers=ES2_HEADERS
        )
        assert response.status_code == 200, response.data
        assert response.mimetype == "application/json"
        return response.get_json()

    def es2_ok(self, function: str, fields: dict[str, Any] | None = None, **kw: Any) -> dict:
        answer = self.es2(function, fields, **kw)
        assert answer["header"]["functionExecutionStatus"] == {"status": "Executed-Success"}, answer
        return answer

    def allocated(self, **fields: Any) -> str:
        return self.es2_ok("downloadOrder", fields)["iccid"]

    def released(self, **fields: Any) -> str:
        iccid = self.allocated(**fields)
        self.es2_ok("confirmOrder", {"iccid": iccid, "releaseFlag": True})
        return iccid

    def installed(self) -> str:
        iccid = self.released()
        self.control("post", f"/sim/profiles/{iccid}/download")
        return iccid

    # Bundle API -------------------------------------------------------------
    def api(self, method: str, path: str, body: Any = None, *, key: str = API_KEY):
        return self.client.open(
            f"/api/v1{path}", method=method.upper(), json=body, headers={"X-API-Key": key}
        )

    def apply(
        self,
        iccid: str,
        reference: str,
        *,
        kind: str = "full",
        quantity: int | None = 5 * GB,
        validity_days: int = 30,
        bundle_code: str = "EU-5GB-30D",
    ):
        return self.api(
            "post",
            f"/esims/{iccid}/bundles",
            {
                "reference": reference,
                "bundle_code": bundle_code,
                "kind": kind,
                "validity_days": validity_days,
                "initial_quantity_bytes": quantity,
            },
        )

    def bundles(self, iccid: str) -> dict[str, dict[str, Any]]:
        response = self.api("get", f"/esims/{iccid}/bundles")
        assert response.status_code == 200, response.data
        return {bundle["reference"]: bundle for bundle in response.get_json()["bundles"]}

    def profile(self, iccid: str) -> dict[str, Any]:
        response = self.api("get", f"/esims/{iccid}")
        assert response.status_code == 200, response.data
        return response.get_json()

    # Control ----------------------------------------------------------------
    def control(self, method: str, path: str, body: Any = None, *, expect: int = 200) -> Any:
        response = self.client.open(path, method=method.upper(), json=body)
        assert response.status_code == expect, response.data
        return response.get_json()

    def tick(self, advance_seconds: float = 0) -> dict[str, Any]:
        return self.control("post", "/sim/tick", {"advance_seconds": advance_seconds})

    def callbacks(self, kind: str | None = None) -> list[dict[str, Any]]:
        rows = self.control("get", "/sim/callbacks")["callbacks"]
        return [row for row in rows if kind is None or row["kind"] == kind]

    def count(self, table: str) -> int:
        with self.sim.store.reading() as conn:
            return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608


def build_app(tmp_path, **overrides: Any) -> Flask:
    settings = Settings().replace(
        db_path=str(tmp_path / "carrier_sim.sqlite3"),
        tick_seconds=0,
        api_key=API_KEY,
        **{"usage_lag_seconds": 0, **overrides},
    )
    return create_app(settings)


@pytest.fixture
def frozen_time():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def carrier(tmp_path, frozen_time) -> Iterator[Carrier]:
    app = build_app(tmp_path, usage_bytes_per_second=1000)
    yield Carrier(app)
    app.extensions[EXTENSION_KEY].close()
