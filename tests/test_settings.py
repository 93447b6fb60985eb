"""How the portal picks and checks its settings when a process starts.

Settings are read once, at import, so each case runs in a fresh interpreter with an
environment of its own: nothing of this test process (test settings, a developer's
exported variables) leaks into what is being checked.
"""

import os
import secrets
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.operations.stack import ENV_EXAMPLE, ROOT, documented_names, read_dotenv

PRODUCTION = "portal.settings.production"
SECRETS = ("SECRET_KEY", "CARRIER_API_KEY", "CARRIER_CALLBACK_SECRET")

# Values this repository has published for those secrets: built-in development defaults,
# .env.example's old placeholder, the simulator's defaults. Anyone can read them.
PUBLISHED = [
    ("SECRET_KEY", "dev-only-insecure-key-change-me"),
    ("SECRET_KEY", "replace-me-insecure-example-key-0123456789-abcdefghijklmnopqrstuvwxyz"),
    ("CARRIER_API_KEY", "dev-carrier-key"),
    ("CARRIER_CALLBACK_SECRET", "dev-callback-secret"),
]


def _good_secrets() -> dict[str, str]:
    return {name: secrets.token_urlsafe(50) for name in SECRETS}


def _clean_env(var_dir: Path, **env: str) -> dict[str, str]:
    """This process's environment without anything the portal reads, plus `env`."""
    portal_names = documented_names(ENV_EXAMPLE) | {"DJANGO_SETTINGS_MODULE"}
    clean = {k: v for k, v in os.environ.items() if k not in portal_names}
    return {**clean, "PORTAL_VAR_DIR": str(var_dir), "PYTHONPATH": str(ROOT), **env}


def _run(args: list[str], env: dict[str, str], cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


SETUP = "import django; from django.conf import settings; django.setup(); "


def _production(tmp_path, **env) -> subprocess.CompletedProcess:
    code = SETUP + "print(settings.SETTINGS_MODULE, settings.DEBUG)"
    return _run(["-c", code], _clean_env(tmp_path, DJANGO_SETTINGS_MODULE=PRODUCTION, **env))


# --- Production refuses secrets anyone can read --------------------------------------------

def test_production_starts_with_random_secrets(tmp_path):
    good = _good_secrets()
    code = SETUP + "print(settings.SECRET_KEY, settings.CARRIER_API_KEY, " \
                   "settings.CARRIER_CALLBACK_SECRET)"
    result = _run(["-c", code], _clean_env(tmp_path, DJANGO_SETTINGS_MODULE=PRODUCTION, **good))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [good[name] for name in SECRETS]


@pytest.mark.parametrize("name, value", PUBLISHED)
def test_production_refuses_a_published_secret(tmp_path, name, value):
    result = _production(tmp_path, **{**_good_secrets(), name: value})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    message = result.stderr.strip().splitlines()[-1]
    assert name in message
    assert [other for other in SECRETS if other != name and other in message] == []


@pytest.mark.parametrize("name", SECRETS)
@pytest.mark.parametrize("value", ["", "unset", "short"])
def test_production_refuses_a_missing_or_short_secret(tmp_path, name, value):
    env = _good_secrets()
    if value == "unset":
        del env[name]
    elif value == "short":
        env[name] = secrets.token_urlsafe(16)  # 22 characters: guessable offline
    else:
        env[name] = ""
    result = _production(tmp_path, **env)
    assert result.returncode != 0
    message = result.stderr.strip().splitlines()[-1]
    assert "ImproperlyConfigured" in message and name in message


def test_production_names_every_bad_secret_at_once(tmp_path):
    result = _production(tmp_path)
    assert result.returncode != 0
    message = result.stderr.strip().splitlines()[-1]
    assert all(name in message for name in SECRETS), message
    assert "secrets.token_urlsafe" in message, "the message says how to make one"


def test_the_simulators_defaults_are_refused_too():
    """The carrier simulator ships its own copies of the development secrets."""
    from carrier_sim.config import Settings
    from portal.settings.base import PUBLISHED_SECRETS

    assert Settings().api_key in PUBLISHED_SECRETS["CARRIER_API_KEY"]
    assert Settings().callback_secret in PUBLISHED_SECRETS["CARRIER_CALLBACK_SECRET"]


def test_env_example_as_copied_does_not_start(tmp_path):
    """`cp .env.example .env && docker compose up` stops until the secrets are filled."""
    example = read_dotenv(ENV_EXAMPLE)
    env = _clean_env(tmp_path, **example, DJANGO_SETTINGS_MODULE=PRODUCTION)
    env["PORTAL_VAR_DIR"] = str(tmp_path)
    result = _run(["manage.py", "check"], env)
    assert result.returncode != 0
    message = result.stderr.strip().splitlines()[-1]
    assert all(name in message for name in SECRETS), message


def test_development_and_tests_keep_embedded_secrets(tmp_path):
    code = SETUP + "print(settings.DEBUG, bool(settings.SECRET_KEY), settings.CARRIER_API_KEY)"
    result = _run(["-c", code], _clean_env(tmp_path, DJANGO_SETTINGS_MODULE="portal.settings.dev"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True", "dev-carrier-key"]


# --- One default settings module, whichever way a process starts -------------------------

ENTRY_POINTS = {
    "manage.py": ["manage.py", "shell", "-c",
                  "from django.conf import settings; print(settings.SETTINGS_MODULE)"],
    "celery": ["-c", SETUP.replace("import django", "import portal.celery, django")
               + "print(settings.SETTINGS_MODULE)"],
    "wsgi": ["-c", "import portal.wsgi; from django.conf import settings; "
                   "print(settings.SETTINGS_MODULE)"],
}


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_every_entry_point_defaults_to_production(tmp_path, entry):
    result = _run(ENTRY_POINTS[entry], _clean_env(tmp_path, **_good_secrets()))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == PRODUCTION


def test_a_server_started_by_hand_without_secrets_says_what_is_missing(tmp_path):
    """A worker or manage.py on a server never falls into development settings."""
    for args in (ENTRY_POINTS["manage.py"], ENTRY_POINTS["celery"]):
        result = _run(args, _clean_env(tmp_path))
        assert result.returncode != 0, args
        assert "SECRET_KEY" in result.stderr.strip().splitlines()[-1]


def _commands(path: Path) -> list[str]:
    """Lines of a Makefile/Procfile (after `make -n`) that start Django or Celery."""
    return [line for line in path.read_text().splitlines()
            if ("manage.py" in line or "celery" in line) and not line.lstrip().startswith("#")]


def test_development_entry_points_ask_for_development_settings():
    procfile = _commands(ROOT / "Procfile.dev")
    assert len(procfile) == 4  # web, worker, beat and the demo household
    for line in procfile:
        assert "DJANGO_SETTINGS_MODULE=portal.settings.dev " in line, line
    dry_run = subprocess.run(["make", "-n", "run", "lint", "messages", "check"], cwd=ROOT,
                             capture_output=True, text=True, timeout=60, check=True).stdout
    lines = [line for line in dry_run.replace("\\\n", " ").splitlines() if "manage.py" in line]
    assert len(lines) >= 6, dry_run
    for line in lines:
        assert "DJANGO_SETTINGS_MODULE=portal.settings." in line, line


# --- The filesystem broker keeps to var/ ---------------------------------------------------

def test_filesystem_broker_writes_only_under_var(tmp_path):
    cwd, var_dir = tmp_path / "cwd", tmp_path / "var"
    cwd.mkdir()
    # A worker's remote control listens on its pidbox queue (what `make run` starts), a
    # broadcast reaches it, and a task is published: every kind of file the broker makes.
    code = SETUP + """
from portal.celery import app
with app.connection_for_write() as conn:
    app.control.mailbox(conn).Node("probe@here", channel=conn.default_channel).listen()
app.control.broadcast("ping", reply=False)
app.send_task("billing.tasks.order_activation_sweep")
"""
    env = _clean_env(var_dir, DJANGO_SETTINGS_MODULE="portal.settings.dev",
                     CELERY_BROKER_URL="filesystem://")
    result = _run(["-c", code], env, cwd=cwd)
    assert result.returncode == 0, result.stderr
    assert list(cwd.iterdir()) == [], "the broker wrote into the working directory"
    control = var_dir / "broker" / "control"
    assert sorted(f.name for f in control.iterdir()) == ["celery.exchange",
                                                          "celery.pidbox.exchange"]
    queued = sorted(f.name.split(".", 1)[1] for f in (var_dir / "broker" / "queue").iterdir())
    assert queued == ["celery.msg", "probe@here.celery.pidbox.msg"]


# --- `check --deploy` warns about a placeholder receipt issuer ----------------------------

PLACEHOLDER_ISSUERS = [
    ("RECEIPT_ISSUER_NAME", ""),
    ("RECEIPT_ISSUER_NAME", "   "),
    ("RECEIPT_ISSUER_NAME", "eSIM Portal"),  # the old default
    ("RECEIPT_ISSUER_NAME", "eSIM Portal (demo)"),  # the development settings'
    ("RECEIPT_ISSUER_NAME", "Your Company Ltd"),
    ("RECEIPT_ISSUER_NAME", "TODO"),
    ("RECEIPT_ISSUER_NAME", "某某科技有限公司"),
    ("RECEIPT_ISSUER_ADDRESS", "Set RECEIPT_ISSUER_ADDRESS"),  # the old default
    ("RECEIPT_ISSUER_ADDRESS", "1 Example Street|10115 Berlin|Germany"),  # .env.example's
    ("RECEIPT_ISSUER_ADDRESS", "XXX|XXX"),
    ("RECEIPT_ISSUER_ADDRESS", "|"),
    ("RECEIPT_ISSUER_ADDRESS", "Lorem ipsum 1|Berlin"),
]
REAL_ISSUER = {"RECEIPT_ISSUER_NAME": "上海漫游通信科技有限公司",
               "RECEIPT_ISSUER_ADDRESS": "上海市浦东新区世纪大道100号|200120",
               "RECEIPT_ISSUER_TAX_ID": "91310115MA1K4A1234"}


def _issuer_warnings(settings, **values) -> list[str]:
    from django.core.checks import run_checks

    from portal.checks import TAG

    for name, value in {**REAL_ISSUER, **values}.items():
        setattr(settings, name, value)
    return [str(m.id) for m in run_checks(tags=[TAG], include_deployment_checks=True)]


@pytest.mark.parametrize(("name", "value"), PLACEHOLDER_ISSUERS)
def test_a_placeholder_issuer_is_warned_about(settings, name, value):
    expected = {"RECEIPT_ISSUER_NAME": "esim_portal.W001",
                "RECEIPT_ISSUER_ADDRESS": "esim_portal.W002"}[name]
    assert _issuer_warnings(settings, **{name: value}) == [expected]


@pytest.mark.parametrize("values", [
    REAL_ISSUER,
    {"RECEIPT_ISSUER_NAME": "Nordlicht Mobile GmbH",
     "RECEIPT_ISSUER_ADDRESS": "Friedrichstrasse 68|10117 Berlin|Germany",
     "RECEIPT_ISSUER_TAX_ID": ""},  # a tax number is optional
    {"RECEIPT_ISSUER_NAME": "Testa Telecom S.p.A.",  # "test" only as part of a word
     "RECEIPT_ISSUER_ADDRESS": "Via Demostene 5|20121 Milano|Italia"},
])
def test_a_real_issuer_is_not(settings, values):
    assert _issuer_warnings(settings, **values) == []


def test_a_placeholder_tax_number_is_warned_about(settings):
    assert _issuer_warnings(settings, RECEIPT_ISSUER_TAX_ID="TBD") == ["esim_portal.W003"]


def test_the_issuer_is_checked_only_for_a_deployment(settings):
    from django.core.checks import run_checks

    settings.RECEIPT_ISSUER_NAME = ""
    assert not [m for m in run_checks() if str(m.id).startswith("esim_portal.")]


def _check_deploy(tmp_path, **env) -> subprocess.CompletedProcess:
    environment = _clean_env(tmp_path, DJANGO_SETTINGS_MODULE=PRODUCTION,
                             **_good_secrets(), **env)
    return _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING",
                 "--tag", "esim_portal"], environment)


def test_check_deploy_fails_on_env_example_s_issuer_and_passes_on_make_check_s(tmp_path):
    """What an operator sees: .env.example's example issuer fails `check --deploy`; the
    one `make check` names passes (so `make check` can pass)."""
    example = read_dotenv(ENV_EXAMPLE)
    issuer = {k: v for k, v in example.items() if k.startswith("RECEIPT_ISSUER_")}
    result = _check_deploy(tmp_path, **issuer)
    assert result.returncode != 0
    assert "esim_portal.W002" in result.stderr and "RECEIPT_ISSUER_ADDRESS" in result.stderr

    dry_run = subprocess.run(["make", "-n", "check"], cwd=ROOT, capture_output=True,
                             text=True, timeout=60, check=True).stdout.replace("\\\n", " ")
    words = shlex.split(next(line for line in dry_run.splitlines() if "check --deploy" in line))
    named = dict(word.split("=", 1) for word in words if word.startswith("RECEIPT_ISSUER_"))
    assert set(named) == {"RECEIPT_ISSUER_NAME", "RECEIPT_ISSUER_ADDRESS"}
    result = _check_deploy(tmp_path, **named)
    assert result.returncode == 0, result.stderr
