"""Shared set-up for the benchmarks: a throwaway database and a Django to talk to it."""

import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from portal.probe import tcp_reachable  # noqa: E402

PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def bench_environment(name: str):
    """Environment variables for a fresh database (PostgreSQL when it runs, else SQLite)
    and Redis when it runs; the database is dropped afterwards."""
    var_dir = tempfile.mkdtemp(prefix=f"bench-{name}-")
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="bench.settings", PORTAL_VAR_DIR=var_dir,
               SECRET_KEY=secrets.token_urlsafe(60), CARRIER_API_KEY=secrets.token_urlsafe(40),
               CARRIER_CALLBACK_SECRET=secrets.token_urlsafe(40),
               ALLOWED_HOSTS="127.0.0.1,localhost,testserver",
               PYTHONPATH=str(ROOT), LOG_LEVEL="WARNING")
    dbname = None
    if tcp_reachable("127.0.0.1", 5432):
        dbname = f"bench_{name}_{os.getpid()}"
        _psql(f"CREATE DATABASE {dbname}")
        env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{dbname}"
    else:
        env["DATABASE_URL"] = f"sqlite:///{var_dir}/bench.sqlite3"
    if tcp_reachable("127.0.0.1", 6379):
        env["REDIS_URL"] = "redis://127.0.0.1:6379/14"
    try:
        yield env
    finally:
        if "REDIS_URL" in env:
            import redis

            redis.Redis.from_url(env["REDIS_URL"]).flushdb()
        if dbname:
            from django.db import connections

            connections.close_all()
            _psql(f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)")


def _psql(sql: str) -> None:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres",
                         autocommit=True) as conn:
        conn.execute(sql)


def django_setup(env: dict) -> None:
    os.environ.update(env)
    import django

    django.setup()
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env,
                   check=True)


def figure(name: str, value) -> None:
    print(f"{name}: {value}", flush=True)


def start_carrier(env: dict, **config: str) -> tuple[subprocess.Popen, str]:
    """The carrier simulator in its own process, on a free port, with its own database
    under the bench's folder: no engine thread (time moves when the bench ticks it), no
    callbacks and no install on its own; `config` sets more CARRIER_SIM_* variables."""
    port = free_port()
    sim_env = dict(env, CARRIER_SIM_PORT=str(port), CARRIER_SIM_CALLBACK_URL="",
                   CARRIER_SIM_DB=str(Path(env["PORTAL_VAR_DIR"]) / "carrier.sqlite3"),
                   CARRIER_SIM_INSTALL_AFTER_SECONDS="-1", CARRIER_SIM_TICK_SECONDS="0",
                   **config)
    proc = subprocess.Popen([PYTHON, "-m", "carrier_sim"], cwd=ROOT, env=sim_env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        if tcp_reachable("127.0.0.1", port):
            return proc, url
        time.sleep(0.1)
    raise SystemExit("the carrier simulator did not start")


# Real Celery workers, as many and as wide as production runs them unless a bench says.
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
WORKER_CONCURRENCY = int(os.environ.get("BENCH_WORKER_CONCURRENCY", "4"))


def start_workers(env: dict, *, name: str) -> list[subprocess.Popen]:
    """WORKERS Celery workers on the bench's broker, threads pool, logs in its folder."""
    return [subprocess.Popen(
        [str(Path(PYTHON).parent / "celery"), "-A", "portal", "worker", "--pool=threads",
         f"--concurrency={WORKER_CONCURRENCY}", "--loglevel=WARNING", "-n", f"{name}{i}@%h",
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
        stderr=open(Path(env["PORTAL_VAR_DIR"]) / f"worker{i}.log", "w"))  # noqa: SIM115
        for i in range(WORKERS)]


def stop(processes: list[subprocess.Popen]) -> None:
    """Ask each process to stop, then wait for it; kill what is still there after 15 s."""
    for proc in processes:
        proc.terminate()
    for proc in processes:
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
