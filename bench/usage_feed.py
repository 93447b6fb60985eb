"""bench/usage_feed.py: the usage feed at scale.

10,000 installed eSIMs, each with a plan running at the real carrier simulator (its own
process, as `python -m carrier_sim` runs it), which answers every API call after a
realistic delay (BENCH_CARRIER_LATENCY_MS, 100 ms by default: the slow part of reality).
The poll runs end to end as in production: the sweep claims every eSIM due and queues a
task per hundred, real Celery workers on Redis make one carrier call each and take the
answers in. Prints how long until every bundle shows fresh figures (target: under 60 s)
and checks that each one's figures came from the carrier.

Exits 1 when the target is missed. Uses PostgreSQL and Redis (both are needed; without
them it says so and exits 2).
"""

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    bench_environment,
    django_setup,
    figure,
    start_carrier,
    start_workers,
    stop,
)
from portal.probe import tcp_reachable  # noqa: E402

ESIMS = int(os.environ.get("BENCH_ESIMS", "10000"))
LATENCY_MS = int(os.environ.get("BENCH_CARRIER_LATENCY_MS", "100"))
TARGET_SECONDS = 60.0
BYTES_PER_SECOND = 1000


def control(url: str, path: str, body: dict) -> dict:
    request = urllib.request.Request(f"{url}{path}", method="POST",
                                     headers={"Content-Type": "application/json"},
                                     data=json.dumps(body).encode())
    with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
        return json.load(response)


def installed_profiles(url: str, count: int) -> list[str]:
    """Profiles already on phones at the simulator (no ES2+ round trips per eSIM)."""
    iccids: list[str] = []
    while len(iccids) < count:
        iccids += control(url, "/sim/profiles",
                          {"count": min(1000, count - len(iccids)), "installed": True})["iccids"]
    return iccids


def make_running(iccids: list[str]) -> None:
    """A customer per eSIM, installed, with a 3 GB month's plan applied at the carrier
    (where it starts at once) and known here as running; never polled yet."""
    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.utils import timezone

    from accounts.models import User
    from billing.models import Order
    from esims.models import Bundle, ESim
    from esims.services import bundles_apply_at_carrier
    from plans.models import Plan
    from tests.factories import PlanFactory

    plan: Plan = PlanFactory(code="bench-month", name="Bench month",  # type: ignore[assignment]
                             validity_days=30)
    now = timezone.now()
    password = make_password(None)
    with transaction.atomic():
        users = User.objects.bulk_create(
            [User(email=f"feed{i}@example.com", password=password) for i in range(len(iccids))],
            batch_size=2000)
        esims = ESim.objects.bulk_create(
            [ESim(owner=u, nickname="Phone", state=ESim.State.INSTALLED, iccid=iccid,
                  smdp_address="smdp.example", matching_id=f"M{i}", installed_at=now)
             for i, (u, iccid) in enumerate(zip(users, iccids, strict=True))], batch_size=2000)
        orders = Order.objects.bulk_create(
            [Order(customer=u, kind=Order.Kind.NEW_ESIM, plan=plan, esim=e, nickname="Phone",
                   currency="USD", amount_minor=1800, status=Order.Status.COMPLETED,
                   idempotency_key=f"bench-{e.pk}", paid_at=now, completed_at=now)
             for u, e in zip(users, esims, strict=True)], batch_size=2000)
        Bundle.objects.bulk_create(
            [Bundle(esim=e, order=o, plan=plan, plan_code=plan.code, plan_name=plan.name,
                    validity_days=30, data_allowance_bytes=3 * 1024 ** 3,
                    carrier_reference=o.number)
             for e, o in zip(esims, orders, strict=True)], batch_size=2000)
    bundles = list(Bundle.objects.select_related("esim"))
    failed = [pk for pk, error in bundles_apply_at_carrier(bundles=bundles).items() if error]
    if failed:
        raise SystemExit(f"{len(failed)} bundles could not be applied at the carrier")
    # As the shop left them: running, figures not read yet, never polled.
    Bundle.objects.update(data_used_bytes=0, usage_reported_at=None)
    ESim.objects.update(synced_at=None)


def run_poll() -> tuple[int, float]:
    """The sweep's claim and every task it queued: (eSIMs claimed, seconds until every
    bundle shows figures read from the carrier)."""
    from carrier import tasks
    from esims.models import Bundle

    start = time.perf_counter()
    claimed = tasks.usage_poll_sweep()
    deadline = start + float(os.environ.get("BENCH_TIMEOUT", "300"))
    while time.perf_counter() < deadline:
        if not Bundle.objects.filter(usage_reported_at__isnull=True).exists():
            return claimed, time.perf_counter() - start
        time.sleep(0.1)
    raise SystemExit(f"not every eSIM was updated in time; worker logs in "
                     f"{os.environ['PORTAL_VAR_DIR']}")


def check_figures() -> None:
    """Every running bundle took the carrier's figures: data used and its time."""
    from esims.models import Bundle, ESim

    assert Bundle.objects.filter(state=Bundle.State.ACTIVE).count() == ESIMS
    assert not Bundle.objects.filter(data_used_bytes=0).exists(), "a bundle kept no figure"
    assert not ESim.objects.filter(synced_at__isnull=True).exists(), "an eSIM was not polled"


def main() -> int:
    if not (tcp_reachable("127.0.0.1", 5432) and tcp_reachable("127.0.0.1", 6379)):
        print("bench/usage_feed.py needs PostgreSQL (127.0.0.1:5432) and Redis (:6379).")
        return 2
    with bench_environment("usage") as env:
        env.update(CELERY_BROKER_URL=env["REDIS_URL"].rsplit("/", 1)[0] + "/12",
                   EMAIL_URL="dummymail://", SECURE_SSL_REDIRECT="false")
        # Data used at BYTES_PER_SECOND; no latency yet: it is set once the data is in.
        carrier, carrier_url = start_carrier(
            env, CARRIER_SIM_USAGE_BYTES_PER_SECOND=str(BYTES_PER_SECOND),
            CARRIER_SIM_USAGE_LAG_SECONDS="0", CARRIER_SIM_LATENCY_MS="0")
        env["CARRIER_URL"] = carrier_url
        workers: list[subprocess.Popen] = []
        try:
            django_setup(env)
            from portal.celery import app

            app.control.purge()
            make_running(installed_profiles(carrier_url, ESIMS))
            # Some data used at every phone; then every call to the carrier is slow.
            time.sleep(1)
            control(carrier_url, "/sim/tick", {})
            control(carrier_url, "/sim/config", {"latency_ms": LATENCY_MS})

            workers = start_workers(env, name="feed")
            time.sleep(3)  # let the workers connect
            claimed, seconds = run_poll()
            check_figures()
            figure("esims", claimed)
            figure("carrier_latency_ms", LATENCY_MS)
            figure("carrier_calls", -(-claimed // 100))
            figure("seconds", round(seconds, 2))
            figure("esims_per_second", round(claimed / seconds, 1))
            figure("target_seconds", TARGET_SECONDS)
            failed = claimed != ESIMS or seconds > TARGET_SECONDS
        finally:
            stop([*workers, carrier])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
