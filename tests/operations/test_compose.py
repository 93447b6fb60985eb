"""The Docker deployment: docker-compose.yml, the Dockerfile and .env.example.

No Docker engine is needed. The files are read as Docker would read them, every command
is checked to exist in this project, and then each of the portal's own services is run
from this checkout with the compose file's command and environment, pointed at a local
PostgreSQL and Redis, to see that it really starts and answers its own health check.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import json
import os
import random
import re
import shlex
import shutil
import subprocess
import time
import urllib.request
import uuid
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests import services

from .stack import (
    COMPOSE_FILE,
    CONTAINER_ROOT,
    DOCKERIGNORE,
    ENV_EXAMPLE,
    IMAGE_SERVICES,
    LONG_RUNNING,
    OPERATOR_SECRETS,
    PORTAL_SERVICES,
    REQUIRED_SECRETS,
    ROOT,
    VENV_BIN,
    Dockerfile,
    Localizer,
    Process,
    compose_variables,
    documented_names,
    healthcheck_argv,
    interpolate,
    load_compose,
    load_compose_raw,
    operator_dotenv,
    read_dotenv,
    service_env,
    wait_until,
)

PYTHON = str(VENV_BIN / "python")


@pytest.fixture(scope="module")
def compose():
    return load_compose()


@pytest.fixture(scope="module")
def dockerfile():
    return Dockerfile.read()


def _container_path(arg: str) -> Path | None:
    """A file of this project that a container argument names, if it names one."""
    if arg.startswith(CONTAINER_ROOT + "/"):
        return ROOT / arg[len(CONTAINER_ROOT) + 1 :]
    if re.fullmatch(r"[\w./-]+\.(py|sh|conf)", arg) and not arg.startswith("/"):
        return ROOT / arg
    return None


# --- (a) The compose file's shape -------------------------------------------------------

def test_compose_file_is_compose_spec_without_version():
    raw = load_compose_raw()
    assert "version" not in raw, "the Compose spec has no version key"
    assert set(raw["services"]) == set(PORTAL_SERVICES) | set(IMAGE_SERVICES)


def test_compose_interpolation_has_every_variable_from_env_example():
    variables = read_dotenv(ENV_EXAMPLE)
    missing = {name for name in compose_variables() if name not in variables}
    assert not missing, f"docker-compose.yml interpolates {missing}, absent from .env.example"
    assert interpolate("${A:-x} ${B-y} $${C} $A", {"A": "1"}) == "1 y ${C} 1"


def test_compose_stops_until_every_secret_is_set():
    """`cp .env.example .env && docker compose up` stops before any container starts."""
    with pytest.raises(ValueError, match=r"\$\{(SECRET_KEY|CARRIER_\w+)\} is required"):
        load_compose(read_dotenv(ENV_EXAMPLE))
    for name in REQUIRED_SECRETS:
        with pytest.raises(ValueError, match=rf"\$\{{{name}\}} is required"):
            load_compose(operator_dotenv() | {name: ""})


def test_the_secrets_reach_every_service_that_needs_them(compose, dockerfile):
    for name in ("migrate", "web", "worker", "beat"):
        env = service_env(compose, name, dockerfile)
        for secret in REQUIRED_SECRETS:
            assert env[secret] == OPERATOR_SECRETS[secret], f"{name}: {secret}"
    # The simulator checks the portal's API key and signs callbacks the portal verifies.
    carrier_env = service_env(compose, "carrier", dockerfile)
    for secret in ("CARRIER_API_KEY", "CARRIER_CALLBACK_SECRET"):
        assert carrier_env[secret] == OPERATOR_SECRETS[secret], secret
    from carrier_sim.config import Settings

    simulator = Settings.from_env(carrier_env)
    assert simulator.api_key == OPERATOR_SECRETS["CARRIER_API_KEY"]
    assert simulator.callback_secret == OPERATOR_SECRETS["CARRIER_CALLBACK_SECRET"]


def test_every_long_running_service_has_a_health_check(compose):
    for name in LONG_RUNNING:
        check = compose["services"][name].get("healthcheck")
        assert check and check.get("test") and not check.get("disable"), name
        assert {"interval", "timeout", "retries"} <= set(check), name


def test_services_wait_for_healthy_or_finished_dependencies(compose):
    services_ = compose["services"]
    for name, service in services_.items():
        depends_on = service.get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: depends_on needs conditions"
        for target, rule in depends_on.items():
            condition = rule["condition"]
            if condition == "service_completed_successfully":
                assert services_[target].get("restart") == "no", f"{target} is one-shot"
            else:
                assert condition == "service_healthy", f"{name} -> {target}"
                assert "healthcheck" in services_[target], f"{target} has no health check"
    for name in ("web", "worker", "beat"):
        assert services_[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"), f"{name} must wait for migrations"
        for target in ("db", "redis"):
            assert target in services_[name]["depends_on"], f"{name} -> {target}"


def test_data_lives_on_named_volumes(compose):
    declared = set(compose.get("volumes") or {})
    expected = {"db": "/var/lib/postgresql/data", "redis": "/data",
                "carrier": "/data/carrier", "mailpit": "/data"}
    for name, target in expected.items():
        mounts = [v.split(":") for v in compose["services"][name].get("volumes", [])]
        assert [source for source, path, *_ in mounts if path == target
                and source in declared], f"{name}: no named volume on {target}"
    used = {v.split(":")[0] for s in compose["services"].values() for v in s.get("volumes", [])
            if not v.startswith((".", "/"))}
    assert used <= declared, f"volumes used but not declared: {used - declared}"


def test_web_and_worker_can_be_scaled(compose):
    published = []
    for name, service in compose["services"].items():
        assert "container_name" not in service, f"{name}: a fixed name stops --scale"
        for port in service.get("ports", []):
            published.append(port.rsplit(":", 1)[0])
    for name in ("web", "worker", "beat", "migrate"):
        assert not compose["services"][name].get("ports"), f"{name} must publish no port"
    assert len(published) == len(set(published)), f"host ports clash: {published}"


def test_images_and_service_wiring(compose):
    services_ = compose["services"]
    assert services_["db"]["image"].startswith("postgres:16")
    assert services_["redis"]["image"].startswith("redis:7")
    assert services_["mailpit"]["image"].split(":")[0] == "axllent/mailpit"
    assert any(p.endswith(":8025") for p in services_["mailpit"]["ports"])
    for name in PORTAL_SERVICES:
        assert services_[name]["build"] == "." and services_[name]["env_file"] == ".env"
    carrier_env = service_env(compose, "carrier", Dockerfile.read())
    assert carrier_env["CARRIER_SIM_CALLBACK_URL"] == "http://web:8000"
    assert carrier_env["CARRIER_SIM_DB"].startswith("/data/carrier/")
    web_env = service_env(compose, "web", Dockerfile.read())
    assert web_env["EMAIL_URL"] == "smtp://mailpit:1025"
    assert web_env["CARRIER_URL"] == "http://carrier:8100"
    assert "web" in web_env["ALLOWED_HOSTS"].split(","), "carrier callbacks use Host web:8000"
    assert "127.0.0.1" in web_env["ALLOWED_HOSTS"].split(","), "health checks use 127.0.0.1"
    db_env = services_["db"]["environment"]
    assert web_env["DATABASE_URL"] == (
        f"postgres://{db_env['POSTGRES_USER']}:{db_env['POSTGRES_PASSWORD']}"
        f"@db:5432/{db_env['POSTGRES_DB']}")
    assert "--workers" in services_["web"]["command"]
    workers = services_["web"]["command"][services_["web"]["command"].index("--workers") + 1]
    assert int(workers) >= 2
    assert "0.0.0.0:8000" in services_["web"]["command"]


# --- (b) Every command names something this project has ---------------------------------

@pytest.fixture(scope="module")
def manage_commands(tmp_path_factory):
    env = {"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "portal.settings.dev",
           "PORTAL_VAR_DIR": str(tmp_path_factory.mktemp("var"))}
    out = subprocess.run([PYTHON, "manage.py", "help", "--commands"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return set(out.split())


def _check_argv(argv: list[str], manage_commands: set[str], where: str) -> None:
    program, *args = argv
    if program in ("sh", "/bin/sh"):
        if args[0] == "-c":
            _check_argv(shlex.split(args[1]), manage_commands, where)
            return
        script = _container_path(args[0])
        assert script and script.is_file(), f"{where}: no script {args[0]}"
        for line in script.read_text().splitlines():
            words = shlex.split(line, comments=True)
            if "manage.py" in words:
                _check_argv(words[words.index("python"):], manage_commands, f"{where} {line}")
        return
    if program not in ("wget", "pg_isready", "redis-cli", "/mailpit"):
        assert (VENV_BIN / program).is_file(), f"{where}: {program} is not in .venv/bin"
    if program == "python" and args[0] == "-m":
        assert importlib.util.find_spec(args[1]), f"{where}: no module {args[1]}"
    elif program == "python" and args[0] == "manage.py":
        assert args[1] in manage_commands, f"{where}: no manage.py {args[1]}"
    elif program == "celery":
        assert args[:2] == ["-A", "portal"] and (ROOT / "portal" / "celery.py").is_file()
    elif program == "gunicorn":
        module = args[0]
        assert importlib.util.find_spec(module), f"{where}: no module {module}"
        assert "application" in (ROOT / (module.replace(".", "/") + ".py")).read_text()
    for arg in args:
        path = _container_path(arg)
        assert path is None or path.exists(), f"{where}: {arg} does not exist"


def test_every_service_command_exists_here(compose, manage_commands):
    for name in PORTAL_SERVICES:
        service = compose["services"][name]
        assert "entrypoint" not in service, "commands are the whole story"
        _check_argv(service["command"], manage_commands, f"{name} command")
        check = service.get("healthcheck", {})
        if not check.get("disable"):
            _check_argv(healthcheck_argv(check["test"]), manage_commands, f"{name} health")


def test_proxy_config_is_mounted_from_the_project(compose):
    for volume in compose["services"]["proxy"]["volumes"]:
        source = volume.split(":")[0]
        assert (ROOT / source).is_file(), f"proxy mounts missing {source}"
    conf = (ROOT / "docker" / "nginx.conf").read_text()
    assert "http://web:8000" in conf and "listen 8080" in conf
    assert compose["services"]["proxy"]["ports"][0].endswith(":8080")


def test_dockerfile(dockerfile, manage_commands):
    assert dockerfile.all("FROM") == ["python:3.11-slim"]
    assert dockerfile.env["DJANGO_SETTINGS_MODULE"] == "portal.settings.production"
    assert dockerfile.all("EXPOSE") == ["8000"]
    users = dockerfile.all("USER")
    assert users and users[-1] not in ("root", "0"), "the process must not run as root"
    runs = " ".join(dockerfile.all("RUN"))
    assert "pip install --require-hashes --no-deps -r requirements.lock" in runs
    assert "manage.py collectstatic --noinput" in runs
    for args in dockerfile.all("COPY"):
        *sources, _dest = shlex.split(args)
        for source in sources:
            if not source.startswith("--"):
                assert (ROOT / source).exists(), f"COPY {source}: no such file"
    _check_argv(dockerfile.exec_form("CMD"), manage_commands, "Dockerfile CMD")
    _check_argv(dockerfile.exec_form("HEALTHCHECK"), manage_commands, "Dockerfile HEALTHCHECK")


def test_dockerignore_keeps_local_state_out():
    ignored = {line.strip() for line in DOCKERIGNORE.read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    for name in (".venv", "var", ".git", ".env"):
        assert name in ignored, f".dockerignore misses {name}"
    for needed in ("requirements.lock", "manage.py", "docker", "portal", "carrier_sim"):
        assert needed not in ignored, f".dockerignore drops {needed}, which the image needs"


def test_requirements_lock_is_complete_for_no_deps_install() -> None:
    """pip --no-deps installs exactly the lock: everything the app needs must be in it."""
    text = (ROOT / "requirements.lock").read_text()
    lock = {canonicalize_name(m[1]) for m in re.finditer(r"^([A-Za-z0-9_.\-]+)==", text, re.M)}
    assert text.count("--hash=sha256:") >= len(lock), "every pin needs a hash"
    pyproject = (ROOT / "pyproject.toml").read_text()
    block = pyproject.split("dependencies = [", 1)[1].split("]\n", 1)[0]
    todo = [Requirement(spec) for spec in ast.literal_eval("[" + block + "]")]
    seen: set[tuple[str, str]] = set()
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        assert name in lock, f"{requirement} is needed but missing from requirements.lock"
        for extra in requirement.extras or {""}:
            if (name, extra) in seen:
                continue
            seen.add((name, extra))
            for spec in metadata.requires(name) or []:
                child = Requirement(spec)
                if child.marker is None or child.marker.evaluate({"extra": extra}):
                    todo.append(child)


# --- .env.example documents every setting -------------------------------------------------

def _portal_env_names() -> set[str]:
    names = set()
    for path in (ROOT / "portal" / "settings").glob("*.py"):
        if path.name != "test.py":
            names |= set(re.findall(r"\benv_\w+\(\s*\"([A-Z][A-Z0-9_]*)\"", path.read_text()))
    return names


def test_env_example_documents_every_setting_read():
    from carrier_sim.config import ENV_VARS

    documented = documented_names(ENV_EXAMPLE)
    portal, simulator = _portal_env_names(), set(ENV_VARS.values())
    assert {"SECRET_KEY", "DATABASE_URL", "CARRIER_URL"} <= portal
    assert not portal - documented, f"portal settings missing: {sorted(portal - documented)}"
    assert not simulator - documented, f"simulator missing: {sorted(simulator - documented)}"
    script_names = set(re.findall(r"\$\{?([A-Z][A-Z0-9_]*)",
                                  (ROOT / "docker" / "migrate.sh").read_text()))
    known = portal | simulator | compose_variables() | script_names
    assert not documented - known, f"read by nothing: {sorted(documented - known)}"


def test_env_example_publishes_no_secret():
    """Its secrets are left for the operator to make, with the line that makes one."""
    from portal.settings.base import PUBLISHED_SECRETS

    env = read_dotenv(ENV_EXAMPLE)
    assert set(PUBLISHED_SECRETS) == set(REQUIRED_SECRETS)
    published = {value for values in PUBLISHED_SECRETS.values() for value in values}
    assert not published & set(env.values()), "a published secret is still in .env.example"
    lines = ENV_EXAMPLE.read_text().splitlines()
    recipe = '#   python3 -c "import secrets; print(secrets.token_urlsafe(50))"'
    for name in REQUIRED_SECRETS:
        assert env[name] == "", f"{name} must be left for the operator to set"
        assert lines[lines.index(f"{name}=") - 1] == recipe, f"{name}: say how to make one"
    text = ENV_EXAMPLE.read_text()
    assert not re.search(r"^[A-Z_]+=.*[ \t]#", text, re.M), "inline comments end up in values"


def _compose_cli() -> list[str] | None:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True,
                                 timeout=30).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")  # v1: an older schema, still a real parser
    return [legacy] if legacy else None


def test_docker_compose_config_accepts_the_file(tmp_path):
    """`docker compose config` validates and resolves the file without an engine."""
    cli = _compose_cli()
    if cli is None:
        pytest.skip("skipped: neither the docker compose plugin nor docker-compose is here")
    shutil.copy(COMPOSE_FILE, tmp_path / "docker-compose.yml")
    shutil.copy(ENV_EXAMPLE, tmp_path / ".env")
    shutil.copytree(ROOT / "docker", tmp_path / "docker")
    shutil.copy(ROOT / "Dockerfile", tmp_path / "Dockerfile")
    argv = [*cli, "--project-directory", str(tmp_path), "-f",
            str(tmp_path / "docker-compose.yml"), "config"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0, ".env.example as copied must not start"
    assert any(name in result.stderr for name in REQUIRED_SECRETS), result.stderr
    filled = ENV_EXAMPLE.read_text()
    for name, value in OPERATOR_SECRETS.items():
        filled = filled.replace(f"\n{name}=\n", f"\n{name}={value}\n")
    (tmp_path / ".env").write_text(filled)
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"{shlex.join(cli)} config: {result.stderr}"
    config = yaml.safe_load(result.stdout)
    assert set(config["services"]) == set(PORTAL_SERVICES) | set(IMAGE_SERVICES)
    assert config["services"]["web"]["environment"]["DATABASE_URL"].startswith("postgres://")


# --- (c) Each of the portal's services starts against local services --------------------

@pytest.fixture(scope="module")
def local_services():
    services.need(services.postgres_available(),
                  "PostgreSQL on 127.0.0.1:5432 (to run the compose services here)")
    services.need(services.redis_available(),
                  "Redis on 127.0.0.1:6379 (to run the compose services here)")


@pytest.fixture(scope="module")
def throwaway_database(local_services):
    import psycopg

    name = f"portal_ops_{uuid.uuid4().hex[:12]}"
    dsn = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=5"
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        services.need(False, f"PostgreSQL as user postgres with trust auth ({exc})")
    yield f"postgres://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def spare_redis(local_services):
    """An empty Redis database number, claimed with a marker key and flushed after."""
    import redis

    for number in random.sample(range(1, 15), 14):  # 0 is everyone's, 15 the suite's
        client = redis.Redis(host="127.0.0.1", port=6379, db=number, socket_timeout=3)
        with contextlib.suppress(redis.ResponseError):
            if client.dbsize() == 0 and client.set("portal-ops-test:claimed", os.getpid(),
                                                   nx=True, ex=900):
                break
    else:
        pytest.skip("skipped: no empty Redis database among 1-14 to use")
    yield f"redis://127.0.0.1:6379/{number}"
    client.flushdb()
    client.close()


@pytest.fixture(scope="module")
def local(tmp_path_factory, throwaway_database, spare_redis):
    tmp = tmp_path_factory.mktemp("compose")
    (tmp / "carrier").mkdir()
    (tmp / "logs").mkdir()
    return Localizer(tmp=tmp, database_url=throwaway_database, redis_url=spare_redis)


@pytest.fixture(scope="module")
def collectstatic(local, dockerfile):
    """The Dockerfile's own collectstatic step, with its throwaway random secrets."""
    (run,) = [r for r in dockerfile.all("RUN") if "collectstatic" in r]
    (step,) = [part.strip() for part in run.split("&&") if "collectstatic" in part]
    env = local.env(dict(dockerfile.env))
    return subprocess.run(["/bin/sh", "-c", step], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def _run_service_once(local, compose, dockerfile, name, **extra_env):
    env = local.env(service_env(compose, name, dockerfile)) | extra_env
    return subprocess.run(local.argv(compose["services"][name]["command"]), cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=180)


@pytest.fixture(scope="module")
def migrate(local, compose, dockerfile):
    return _run_service_once(local, compose, dockerfile, "migrate")


def test_dockerfile_collectstatic_step_runs(collectstatic, local):
    assert collectstatic.returncode == 0, collectstatic.stdout + collectstatic.stderr
    assert (local.var_dir / "static" / "staticfiles.json").is_file()


def test_migrate_service_applies_migrations(migrate):
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    assert "Apply" in migrate.stdout or "No migrations to apply" in migrate.stdout


@pytest.fixture(scope="module")
def stack(local, compose, dockerfile, migrate, collectstatic):
    """web, worker, beat and carrier started together, each with its compose command."""
    if migrate.returncode or collectstatic.returncode:
        pytest.fail("migrate or collectstatic failed; see their own tests")
    procs = {}
    try:
        for name in ("carrier", "web", "worker", "beat"):
            env = local.env(service_env(compose, name, dockerfile))
            argv = local.argv(compose["services"][name]["command"])
            procs[name] = Process(name, argv, env, local.tmp / "logs")
        yield procs
    finally:
        for proc in procs.values():
            proc.stop()


def _healthy(local, compose, dockerfile, name) -> subprocess.CompletedProcess:
    test = compose["services"][name]["healthcheck"]["test"]
    env = local.env(service_env(compose, name, dockerfile))
    return subprocess.run(local.argv(healthcheck_argv(test)), cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def _wait_healthy(local, compose, dockerfile, proc, timeout):
    last = None

    def check():
        nonlocal last
        assert proc.alive(), proc.describe()
        last = _healthy(local, compose, dockerfile, proc.name)
        return last.returncode == 0

    assert wait_until(check, timeout=timeout, interval=1), (
        f"{proc.name} health check never passed: {last.stdout}{last.stderr}\n"
        + proc.describe())
    return last


def _get(url, **headers):
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.read().decode()


def test_carrier_answers_its_health_check(stack, local, compose, dockerfile):
    _wait_healthy(local, compose, dockerfile, stack["carrier"], timeout=30)
    status, body = _get(f"http://127.0.0.1:{local.carrier_port}/sim/health")
    assert status == 200 and json.loads(body)["status"] == "ok"
    assert (local.tmp / "carrier" / "carrier_sim.sqlite3").exists(), "db not on the volume"


def test_web_answers_healthz_with_every_worker(stack, local, compose, dockerfile):
    _wait_healthy(local, compose, dockerfile, stack["web"], timeout=45)
    base = f"http://127.0.0.1:{local.web_port}"
    assert _get(f"{base}/healthz") == (200, "ok")
    # The carrier calls back with Host: web:8000; ALLOWED_HOSTS must let it in.
    assert _get(f"{base}/healthz", Host="web:8000") == (200, "ok")
    workers = compose["services"]["web"]["command"]
    expected = int(workers[workers.index("--workers") + 1])
    assert wait_until(lambda: stack["web"].log().count("Booting worker") >= expected,
                      timeout=10), stack["web"].describe()


def test_web_serves_the_catalogue_with_collected_static(stack, local, compose, dockerfile):
    _wait_healthy(local, compose, dockerfile, stack["web"], timeout=45)
    status, body = _get(f"http://127.0.0.1:{local.web_port}/")
    assert status == 200, stack["web"].describe()
    assert "/static/" in body


def test_worker_answers_inspect_ping(stack, local, compose, dockerfile):
    result = _wait_healthy(local, compose, dockerfile, stack["worker"], timeout=60)
    assert "pong" in result.stdout


def test_beat_keeps_running_and_answers_ping(stack, local, compose, dockerfile):
    beat = stack["beat"]
    result = _wait_healthy(local, compose, dockerfile, beat, timeout=60)
    assert "pong" in result.stdout
    time.sleep(max(0.0, 5 - (time.monotonic() - beat.started)))
    assert beat.alive(), beat.describe()
    log = beat.log()
    assert "beat: Starting" in log, beat.describe()
    assert "DatabaseScheduler" in log, beat.describe()


def test_migrate_with_load_demo_loads_the_catalogue(local, compose, dockerfile, migrate):
    if migrate.returncode:
        pytest.fail("migrate failed; see test_migrate_service_applies_migrations")
    result = _run_service_once(local, compose, dockerfile, "migrate", LOAD_DEMO="true")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Loaded" in result.stdout
