"""bench/pages.py: the dashboard and the catalogue at scale.

Prints the SQL queries the dashboard runs for 1 and 50 eSIMs and the catalogue for 15
and 500 plans (each pair must be equal), then serves the dashboard of a customer with
10 eSIMs under gunicorn with 2 workers and compares its requests per second with a bare
"hello" Django view in the same run (target: at least half). Exits 1 if a target is missed.
"""

import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, bench_environment, django_setup, figure, free_port  # noqa: E402

DURATION = float(os.environ.get("BENCH_SECONDS", "3"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
CONCURRENCY = 4


def count_queries(client, url: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(url)  # warm caches (content types, translations) as a live server would be
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, HTTP_X_FORWARDED_PROTO="https")
    assert response.status_code == 200, response.status_code
    return len(ctx.captured_queries)


def make_customer(email: str, esims: int):
    from tests.factories import BundleFactory, UserFactory

    user = UserFactory(email=email)
    for _ in range(esims):
        BundleFactory(esim__owner=user)
    return user


def load(port: int, path: str, cookie: str, seconds: float) -> float:
    """Requests per second over `seconds`, from CONCURRENCY connections in a loop."""
    request = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-Proto: https\r\n"
               f"Cookie: {cookie}\r\nConnection: close\r\n\r\n").encode()
    done = [0] * CONCURRENCY
    errors = []
    stop = time.monotonic() + seconds

    def worker(i):
        while time.monotonic() < stop:
            with socket.create_connection(("127.0.0.1", port)) as sock:
                sock.sendall(request)
                chunks = []
                while chunk := sock.recv(65536):
                    chunks.append(chunk)
            head = b"".join(chunks)[:12]
            if not head.startswith(b"HTTP/1.1 200"):
                errors.append(head)
                return
            done[i] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(CONCURRENCY)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit(f"{path} answered {errors[0]!r}")
    return sum(done) / (time.monotonic() - started)


def main() -> int:
    failed = []
    with bench_environment("pages") as env:
        django_setup(env)
        from django.test import Client

        from plans.models import Plan
        from tests.factories import PlanFactory

        client = Client()
        counts = {}
        for n in (1, 50):
            client.force_login(make_customer(f"customer{n}@example.com", n))
            counts[n] = count_queries(client, "/esims/")
            figure(f"dashboard_queries_{n}_esims", counts[n])
        if counts[1] != counts[50]:
            failed.append("dashboard queries grow with eSIMs")
        Plan.objects.update(is_active=False)  # the customers above hold their plans
        PlanFactory.create_batch(15)
        plan_counts = {15: count_queries(client, "/plans/")}
        PlanFactory.create_batch(485)
        plan_counts[500] = count_queries(client, "/plans/")
        for n, value in plan_counts.items():
            figure(f"catalogue_queries_{n}_plans", value)
        if plan_counts[15] != plan_counts[500]:
            failed.append("catalogue queries grow with plans")

        client.force_login(make_customer("ten@example.com", 10))
        client.get("/esims/")  # a browser keeps the CSRF cookie it is given
        cookie = (f"sessionid={client.cookies['sessionid'].value}; "
                  f"csrftoken={client.cookies['csrftoken'].value}")
        from django.db import connections

        connections.close_all()

        port = free_port()
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "portal.wsgi", "--workers", "2",
             "--bind", f"127.0.0.1:{port}", "--log-level", "warning"],
            cwd=ROOT, env=env, start_new_session=True)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    time.sleep(0.2)
            load(port, "/bench/hello", "", 1.0)  # warm both workers
            load(port, "/esims/", cookie, 1.0)
            # Interleave rounds so drift on a shared machine hits all three alike.
            rounds: dict[str, list[float]] = {"anonymous": [], "hello": [], "dashboard": []}
            for _ in range(ROUNDS):
                rounds["anonymous"].append(load(port, "/bench/hello", "", DURATION))
                rounds["hello"].append(load(port, "/bench/hello", cookie, DURATION))
                rounds["dashboard"].append(load(port, "/esims/", cookie, DURATION))
            hello_anonymous, hello, dashboard = (statistics.median(rounds[k]) for k in
                                                 ("anonymous", "hello", "dashboard"))
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(10)
        figure("hello_anonymous_rps", round(hello_anonymous))
        figure("hello_rps", round(hello))
        figure("dashboard_10_esims_rps", round(dashboard))
        figure("dashboard_to_hello_anonymous_ratio", f"{dashboard / hello_anonymous:.2f}")
        ratio = dashboard / hello
        figure("dashboard_to_hello_ratio", f"{ratio:.2f}")
        if ratio < 0.5:
            failed.append(f"dashboard serves {ratio:.2f} of hello's rate (target 0.50)")
    for reason in failed:
        print(f"MISSED: {reason}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
