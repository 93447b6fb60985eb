"""Settings from the environment, runtime changes and switching control off."""

from __future__ import annotations

import pytest

from carrier_sim.config import ConfigError, Settings

from .conftest import Carrier, build_app


def test_defaults_without_environment():
    settings = Settings.from_env({})

    assert (settings.host, settings.port, settings.db_path) == (
        "127.0.0.1",
        8100,
        "var/carrier_sim.sqlite3",
    )
    assert (settings.api_key, settings.callback_secret) == (
        "dev-carrier-key",
        "dev-callback-secret",
    )
    assert (settings.install_after_seconds, settings.tick_seconds) == (20.0, 1.0)
    assert settings.callback_url == ""


def test_values_from_environment():
    settings = Settings.from_env(
        {
            "CARRIER_SIM_PORT": "9000",
            "CARRIER_SIM_CALLBACK_URL": "http://web:8000/",
            "CARRIER_SIM_FAILURE_RATE": "0.25",
            "CARRIER_SIM_INSTALL_AFTER_SECONDS": "-1",
            "CARRIER_SIM_CONTROL": "0",
            "CARRIER_API_KEY": "k",
        }
    )

    assert (settings.port, settings.callback_url, settings.failure_rate) == (
        9000,
        "http://web:8000",
        0.25,
    )
    assert (settings.install_after_seconds, settings.control_enabled, settings.api_key) == (
        -1.0,
        False,
        "k",
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CARRIER_SIM_PORT", "eighty"),
        ("CARRIER_SIM_PORT", "70000"),
        ("CARRIER_SIM_FAILURE_RATE", "1.5"),
        ("CARRIER_SIM_DROP_CALLBACK_RATE", "nan"),
        ("CARRIER_SIM_LATENCY_MS", "1.5"),
        ("CARRIER_SIM_CALLBACK_URL", "ftp://x"),
        ("CARRIER_SIM_CONTROL", "maybe"),
        ("CARRIER_SIM_TICK_SECONDS", "-1"),
    ],
)
def test_a_bad_value_names_the_variable(variable, value):
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env({variable: value})


def test_config_endpoint_reads_and_changes_runtime_settings_without_secrets(carrier):
    before = carrier.control("get", "/sim/config")
    after = carrier.control("post", "/sim/config", {"latency_ms": 5, "drop_callback_rate": 0.5})

    assert "api_key" not in before and "callback_secret" not in before
    assert (after["latency_ms"], after["drop_callback_rate"]) == (5, 0.5)
    assert carrier.sim.settings.latency_ms == 5


@pytest.mark.parametrize(
    "change", [{"failure_rate": 2}, {"api_key": "x"}, {"nonsense": 1}, {"latency_ms": "x"}]
)
def test_config_endpoint_refuses_bad_changes(carrier, change):
    answer = carrier.control("post", "/sim/config", change, expect=400)

    assert answer["error"]["code"] == "invalid_request"


def test_reset_empties_everything(carrier):
    iccid = carrier.installed()
    carrier.apply(iccid, "order-1")

    carrier.control("post", "/sim/reset")

    assert [carrier.count(t) for t in ("profiles", "bundles", "outbox", "es2_calls")] == [0] * 4
    assert carrier.allocated() != iccid  # ICCIDs are never reissued


def test_control_can_be_switched_off_except_health(tmp_path):
    carrier = Carrier(build_app(tmp_path, control_enabled=False))

    assert carrier.control("get", "/sim/health") == {"status": "ok"}
    assert carrier.control("post", "/sim/tick", expect=404)["error"]["code"] == "not_found"
    assert carrier.control("get", "/sim/callbacks", expect=404)
    carrier.sim.close()


def test_create_app_reads_the_environment_and_overrides_win(tmp_path, monkeypatch):
    from carrier_sim import create_app

    monkeypatch.setenv("CARRIER_SIM_FAILURE_RATE", "0.5")
    monkeypatch.setenv("CARRIER_SIM_LATENCY_MS", "7")
    app = create_app({"db_path": str(tmp_path / "x.sqlite3"), "tick_seconds": 0, "latency_ms": 0})
    settings = app.extensions["carrier_sim"].settings

    assert (settings.failure_rate, settings.latency_ms) == (0.5, 0)
    assert (tmp_path / "x.sqlite3").exists()
