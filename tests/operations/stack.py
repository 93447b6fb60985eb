"""Read docker-compose.yml, .env.example and the Dockerfile the way Docker would, and turn
a container's command into one that runs from this checkout against local services.

Inside a container the code lives in /app, the simulator's data in /data/carrier, and the
other services answer at their service names (db, redis, web, carrier, mailpit). Here the
same commands run with the project's .venv first on PATH, container paths mapped into
this checkout or a temporary folder, and every service name mapped to 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shlex
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
CONTAINER_ROOT = "/app"
CARRIER_DATA = "/data/carrier"

# Built from this project's Dockerfile, and so runnable from the checkout.
PORTAL_SERVICES = ("migrate", "web", "worker", "beat", "carrier")
# Third-party images: checked for shape only.
IMAGE_SERVICES = ("proxy", "db", "redis", "mailpit")
LONG_RUNNING = ("web", "worker", "beat", "carrier", "proxy", "db", "redis", "mailpit")


# The secrets .env.example leaves empty and compose and the production settings require.
REQUIRED_SECRETS = ("SECRET_KEY", "CARRIER_API_KEY", "CARRIER_CALLBACK_SECRET")
# What an operator puts there: random values of their own, one set for the whole run.
OPERATOR_SECRETS = {name: secrets.token_urlsafe(50) for name in REQUIRED_SECRETS}


# --- .env files and Compose interpolation -----------------------------------------------

def read_dotenv(path: Path) -> dict[str, str]:
    """Active NAME=value lines of a Compose env file; "# NAME=value" lines are comments."""
    values = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name.strip()):
            raise ValueError(f"{path.name}:{number}: not NAME=value: {line!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[name.strip()] = value
    return values


def documented_names(path: Path) -> set[str]:
    """Names a .env file sets or shows commented out ("# NAME=default")."""
    pattern = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=", re.MULTILINE)
    return set(pattern.findall(path.read_text()))


_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


def interpolate(text: str, variables: dict[str, str]) -> str:
    """Compose's ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error} and $$."""

    def substitute(match: re.Match) -> str:
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["bare"]
        value, op, arg = variables.get(name), match["op"], match["arg"]
        if op == ":-":
            return value if value else arg
        if op == "-":
            return arg if value is None else value
        if (op == ":?" and not value) or (op == "?" and value is None):
            raise ValueError(f"${{{name}}} is required: {arg}")
        return value or ""

    return _VARIABLE.sub(substitute, text)


def _map_strings(data: Any, func: Callable[[str], str]) -> Any:
    if isinstance(data, str):
        return func(data)
    if isinstance(data, list):
        return [_map_strings(item, func) for item in data]
    if isinstance(data, dict):
        return {key: _map_strings(value, func) for key, value in data.items()}
    return data


def load_compose_raw() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def operator_dotenv() -> dict[str, str]:
    """.env as an operator makes it: .env.example with the required secrets filled in."""
    return read_dotenv(ENV_EXAMPLE) | OPERATOR_SECRETS


def load_compose(variables: dict[str, str] | None = None) -> dict:
    """The compose file as `docker compose` sees it with .env holding `variables`
    (default: the operator's .env, `operator_dotenv()`)."""
    variables = operator_dotenv() if variables is None else variables
    return _map_strings(load_compose_raw(), lambda text: interpolate(text, variables))


def compose_variables() -> set[str]:
    """Names the compose file interpolates from .env."""
    text = COMPOSE_FILE.read_text().replace("$$", "")
    return {m["braced"] or m["bare"] for m in _VARIABLE.finditer(text) if not m["escaped"]}


def service_env(compose: dict, name: str, dockerfile: Dockerfile) -> dict[str, str]:
    """A container's environment: image ENV, then env_file (.env: `operator_dotenv()`),
    then the service's own environment, as Docker layers them."""
    service = compose["services"][name]
    env = dict(dockerfile.env) if name in PORTAL_SERVICES else {}
    env_files = service.get("env_file", [])
    for entry in [env_files] if isinstance(env_files, str | dict) else env_files:
        path = entry["path"] if isinstance(entry, dict) else entry
        env.update(operator_dotenv() if path == ".env" else read_dotenv(ROOT / path))
    environment = service.get("environment", {})
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    env.update({key: "" if value is None else str(value) for key, value in environment.items()})
    return env


def healthcheck_argv(test: list[str] | str) -> list[str]:
    if isinstance(test, str):
        return ["/bin/sh", "-c", test]
    kind, *rest = test
    if kind == "CMD":
        return rest
    if kind == "CMD-SHELL":
        return ["/bin/sh", "-c", rest[0]]
    raise ValueError(f"unexpected healthcheck test {test!r}")


# --- The Dockerfile ------------------------------------------------------------------------

@dataclass
class Dockerfile:
    instructions: list[tuple[str, str]]
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path = DOCKERFILE) -> Dockerfile:
        logical, pending = [], ""
        for line in path.read_text().splitlines():
            if not pending and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if pending and line.lstrip().startswith("#"):
                continue  # a comment inside a continued instruction
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
                continue
            logical.append(pending + line)
            pending = ""
        instructions = []
        for text in logical:
            keyword, _, args = text.strip().partition(" ")
            instructions.append((keyword.upper(), " ".join(args.split())))
        dockerfile = cls(instructions)
        for keyword, args in instructions:
            if keyword == "ENV":
                for item in shlex.split(args):
                    name, value = item.split("=", 1)
                    dockerfile.env[name] = value
        return dockerfile

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def exec_form(self, keyword: str) -> list[str]:
        """CMD ["a", "b"] or HEALTHCHECK ... CMD ["a", "b"] as a list."""
        (args,) = self.all(keyword)
        return json.loads(args[args.index("[") :])


# --- From container to checkout ----------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Localizer:
    """Maps container paths, service addresses and ports to this machine."""

    tmp: Path
    database_url: str
    redis_url: str
    web_port: int = field(default_factory=free_port)
    carrier_port: int = field(default_factory=free_port)
    mail_port: int = field(default_factory=free_port)  # nothing listens: mail just fails

    @property
    def var_dir(self) -> Path:
        return self.tmp / "var"

    def text(self, value: str) -> str:
        replacements = {
            "0.0.0.0:8000": f"127.0.0.1:{self.web_port}",
            "127.0.0.1:8000": f"127.0.0.1:{self.web_port}",
            "web:8000": f"127.0.0.1:{self.web_port}",
            "127.0.0.1:8100": f"127.0.0.1:{self.carrier_port}",
            "carrier:8100": f"127.0.0.1:{self.carrier_port}",
            "mailpit:1025": f"127.0.0.1:{self.mail_port}",
            CARRIER_DATA: str(self.tmp / "carrier"),
        }
        for old, new in replacements.items():
            value = value.replace(old, new)
        if value == CONTAINER_ROOT or value.startswith(CONTAINER_ROOT + "/"):
            value = str(ROOT) + value[len(CONTAINER_ROOT) :]
        return value

    def argv(self, argv: list[str]) -> list[str]:
        return [self.text(arg) for arg in argv]

    def env(self, container_env: dict[str, str]) -> dict[str, str]:
        env = {name: self.text(value) for name, value in container_env.items()}
        # Only the hosts differ: the URLs must name the compose services.
        for name, host in (("DATABASE_URL", "db"), ("CELERY_BROKER_URL", "redis"),
                           ("REDIS_URL", "redis")):
            if name in env:
                assert urlsplit(env[name]).hostname == host, f"{name}={env[name]}"
        env.update(
            DATABASE_URL=self.database_url,
            CELERY_BROKER_URL=self.redis_url,
            REDIS_URL=self.redis_url,
            PORTAL_VAR_DIR=str(self.var_dir),
        )
        if env.get("CARRIER_SIM_HOST") == "0.0.0.0":  # noqa: S104 (the container's value)
            env["CARRIER_SIM_HOST"] = "127.0.0.1"
        if "CARRIER_SIM_PORT" in env:
            env["CARRIER_SIM_PORT"] = str(self.carrier_port)
        leftover = {k: v for k, v in env.items()
                    if re.search(r"//(db|redis|web|carrier|mailpit|proxy)[:/]", v)}
        assert not leftover, f"service addresses left untranslated: {leftover}"
        env.update(
            PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
            HOME=os.environ.get("HOME", str(self.tmp)),
            HOSTNAME=socket.gethostname(),  # Docker sets it; celery@$HOSTNAME relies on it
            LANG="C.UTF-8",
        )
        return env


# --- Processes ---------------------------------------------------------------------------

class Process:
    """A service's command in its own process group, its output in a log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path):
        self.name = name
        self.argv = argv
        self.log_path = log_dir / f"{name}.log"
        self.started = time.monotonic()
        with self.log_path.open("wb") as log:
            self.popen = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.popen.poll() is None

    def describe(self) -> str:
        state = "running" if self.alive() else f"exited {self.popen.returncode}"
        tail = "\n".join(self.log().splitlines()[-40:])
        return f"{self.name} ({state}): {shlex.join(self.argv)}\n--- log tail ---\n{tail}"

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM to the whole group (gunicorn and celery fork), SIGKILL if it lingers."""
        pgid = self.popen.pid
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                self.popen.poll()
                try:
                    os.killpg(pgid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
            else:
                continue
            break
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=5)


def wait_until(check: Callable[[], bool], *, timeout: float, interval: float = 0.3) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
