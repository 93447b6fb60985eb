"""bench/renewals.py: auto-renewal at scale.

1. The sweep that finds due renewals must cost time in proportion to the due eSIMs, not
   to all of them: it claims 10,000 due eSIMs among 100,000 and then among 1,000,000
   eSIMs (the rest not due: auto-renewal off, or due later), and prints both times and
   their ratio (target: at most 1.5).
2. End to end: 10,000 due eSIMs are auto-renewed by real Celery workers on Redis, with
   the simulated gateway and the carrier simulator: each is charged off-session, paid,
   receipted and applied at the carrier. Prints renewals per second (target: at least
   100) and checks that each eSIM was charged exactly once, that receipts have no gaps
   and that each payment email went out once; it also prints how fast the charges and
   the emails went (both reported, not gated: the email rate counts until the last one).

Exits 1 when a target is missed. Uses PostgreSQL and Redis (both are needed; without
them it says so and exits 2).
"""

import json
import os
import statistics
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

DUE = int(os.environ.get("BENCH_DUE", "10000"))
TOTALS = (100_000, 1_000_000)
TARGET_RATE = 100.0
TARGET_SWEEP_RATIO = 1.5


def carrier_profiles(url: str, count: int) -> list[str]:
    iccids: list[str] = []
    while len(iccids) < count:
        request = urllib.request.Request(
            f"{url}/sim/profiles", method="POST", headers={"Content-Type": "application/json"},
            data=json.dumps({"count": min(1000, count - len(iccids))}).encode())
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            iccids += json.load(response)["iccids"]
    return iccids


def make_due(iccids: list[str]) -> None:
    """DUE customers, each with an installed eSIM whose plan ends within the day, auto-
    renewal on and a saved card that pays."""
    from datetime import timedelta

    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.utils import timezone

    from accounts.models import User
    from billing.models import Order, PaymentMethod, SimulatedCard
    from esims.models import Bundle, ESim
    from plans.models import Plan
    from tests.factories import PlanFactory

    plan: Plan = PlanFactory(code="bench-week", name="Bench week",  # type: ignore[assignment]
                             validity_days=7)
    now = timezone.now()
    password = make_password(None)
    with transaction.atomic():
        users = User.objects.bulk_create(
            [User(email=f"due{i}@example.com", password=password) for i in range(DUE)],
            batch_size=2000)
        cards = SimulatedCard.objects.bulk_create(
            [SimulatedCard(reference=f"simcard_bench_{i}", return_url="/", saved=True)
             for i in range(DUE)], batch_size=2000)
        methods = PaymentMethod.objects.bulk_create(
            [PaymentMethod(customer=u, gateway="simulated", setup_reference=c.reference,
                           reference=c.reference, status="active", brand="visa",
                           last4="4242", exp_month=12, exp_year=2030, saved_at=now)
             for u, c in zip(users, cards, strict=True)], batch_size=2000)
        esims = ESim.objects.bulk_create(
            [ESim(owner=u, nickname="Phone", state=ESim.State.INSTALLED, iccid=iccid,
                  smdp_address="smdp.example", matching_id=f"M{i}", auto_renew=True,
                  auto_renew_since=now, renewal_plan=plan, renewal_payment_method=m,
                  renew_at=now - timedelta(minutes=1), installed_at=now)
             for i, (u, m, iccid) in enumerate(zip(users, methods, iccids, strict=True))],
            batch_size=2000)
        orders = Order.objects.bulk_create(
            [Order(customer=u, kind=Order.Kind.NEW_ESIM, plan=plan, esim=e, nickname="Phone",
                   currency="USD", amount_minor=500, status=Order.Status.COMPLETED,
                   idempotency_key=f"bench-{e.pk}", paid_at=now, completed_at=now)
             for u, e in zip(users, esims, strict=True)], batch_size=2000)
        Bundle.objects.bulk_create(
            [Bundle(esim=e, order=o, plan=plan, plan_code=plan.code, plan_name=plan.name,
                    validity_days=7, data_allowance_bytes=3 * 1024 ** 3,
                    state=Bundle.State.ACTIVE, carrier_reference=f"seed-{o.number}",
                    applied_at=now, starts_at=now - timedelta(days=6, hours=12),
                    ends_at=now + timedelta(hours=12))
             for e, o in zip(esims, orders, strict=True)], batch_size=2000)


def fill_to(total: int) -> None:
    """Add eSIMs that are not due until there are `total`: a third with auto-renewal on
    and a charge due in the coming weeks, the rest with it off."""
    from django.db import connection

    from esims.models import ESim

    have = ESim.objects.count()
    if have >= total:
        return
    owner = ESim.objects.values_list("owner_id", flat=True).first()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {ESim._meta.db_table} (owner_id, nickname, state, eid, smdp_address, "  # noqa: S608
            "matching_id, auto_renew, created_at, updated_at, renew_at, renewal_attention, "
            "installed_at) "
            "SELECT %s, 'Filler', 'installed', '', '', '', n %% 3 = 0, now(), now(), "
            "CASE WHEN n %% 3 = 0 THEN now() + (n %% 40 + 2) * interval '1 day' END, '', now() "
            "FROM generate_series(1, %s) AS n", [owner, total - have])
        # Vacuumed and checkpointed now, so that neither autovacuum nor the checkpointer
        # does it in the middle of the timings.
        cursor.execute(f"VACUUM ANALYZE {ESim._meta.db_table}")
        cursor.execute("CHECKPOINT")


def time_sweep(repeats: int = 9) -> float:
    """Milliseconds to claim every due eSIM (the sweep's claim, rolled back each time)."""
    from django.db import transaction

    from renewals.services import renewal_claim_due

    times = []
    for _ in range(repeats):
        with transaction.atomic():
            start = time.perf_counter()
            claimed = renewal_claim_due(limit=DUE)
            times.append((time.perf_counter() - start) * 1000)
            assert len(claimed) == DUE, len(claimed)
            transaction.set_rollback(True)
    return statistics.median(times)


def sweep_plan() -> str:
    from django.db import connection
    from django.utils import timezone

    from esims.models import ESim

    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN SELECT id FROM {ESim._meta.db_table} "  # noqa: S608
                       "WHERE renew_at <= %s ORDER BY renew_at LIMIT %s", [timezone.now(), DUE])
        return " ".join(row[0] for row in cursor.fetchall())


def run_end_to_end() -> tuple[float, float, float]:
    """Seconds until every due eSIM's renewal is paid, until every one is applied at the
    carrier, and until every payment email has gone out."""
    from billing.models import Order
    from notifications.models import Notification
    from renewals import tasks

    start = time.perf_counter()
    tasks.renewal_sweep()
    paid_at = done_at = None
    deadline = start + float(os.environ.get("BENCH_TIMEOUT", "600"))
    while time.perf_counter() < deadline:
        renewals = Order.objects.filter(kind=Order.Kind.RENEWAL)
        if paid_at is None and renewals.exclude(paid_at=None).count() >= DUE:
            paid_at = time.perf_counter() - start
        if done_at is None and renewals.filter(status=Order.Status.COMPLETED).count() >= DUE:
            done_at = time.perf_counter() - start
        if paid_at is not None and done_at is not None and Notification.objects.filter(
                kind=Notification.Kind.ORDER_PAID, order__kind=Order.Kind.RENEWAL,
                status=Notification.Status.SENT).count() >= DUE:
            return paid_at, done_at, time.perf_counter() - start
        time.sleep(0.25)
    raise SystemExit(f"not every renewal was paid, applied and mailed in time (paid after "
                     f"{paid_at} s, applied after {done_at} s); worker logs in "
                     f"{os.environ['PORTAL_VAR_DIR']}")


def check_exactly_once() -> None:
    from django.db.models import Count

    from billing.models import Order, Payment, Receipt, SimulatedCharge
    from esims.models import Bundle
    from notifications.models import DeliveryAttempt

    renewals = Order.objects.filter(kind=Order.Kind.RENEWAL)
    assert renewals.count() == DUE, renewals.count()
    assert not renewals.values("esim").annotate(n=Count("pk")).filter(n__gt=1).exists()
    assert Payment.objects.filter(status="succeeded", off_session=True).count() == DUE
    assert SimulatedCharge.objects.filter(idempotency_key__isnull=False).count() == DUE
    assert Bundle.objects.filter(order__kind=Order.Kind.RENEWAL).count() == DUE
    sequences = sorted(Receipt.objects.values_list("sequence", flat=True))
    assert sequences == list(range(1, DUE + 1)), "receipt numbers have gaps or repeats"
    mailed = DeliveryAttempt.objects.filter(notification__kind="order_paid",
                                            notification__order__kind=Order.Kind.RENEWAL)
    assert mailed.filter(succeeded=True).count() == DUE, "a payment email went out twice"


def main() -> int:
    if not (tcp_reachable("127.0.0.1", 5432) and tcp_reachable("127.0.0.1", 6379)):
        print("bench/renewals.py needs PostgreSQL (127.0.0.1:5432) and Redis (:6379).")
        return 2
    failed = False
    with bench_environment("renewals") as env:
        env.update(ALLOW_SIMULATED_PAYMENTS="true", PAYMENT_GATEWAY="simulated",
                   CELERY_BROKER_URL=env["REDIS_URL"].rsplit("/", 1)[0] + "/13",
                   EMAIL_URL="dummymail://", SECURE_SSL_REDIRECT="false")
        carrier, carrier_url = start_carrier(env, CARRIER_SIM_USAGE_BYTES_PER_SECOND="0")
        env["CARRIER_URL"] = carrier_url
        workers = []
        try:
            django_setup(env)
            from portal.celery import app

            app.control.purge()
            make_due(carrier_profiles(carrier_url, DUE))

            sweep_ms = {}
            for total in TOTALS if not os.environ.get("BENCH_SKIP_SWEEP") else ():
                fill_to(total)
                sweep_ms[total] = time_sweep()
                figure(f"sweep_ms_{DUE}_due_of_{total}", round(sweep_ms[total], 1))
            if sweep_ms:
                ratio = sweep_ms[TOTALS[1]] / sweep_ms[TOTALS[0]]
                figure("sweep_time_ratio_1m_vs_100k", round(ratio, 2))
                uses_index = "esim_renew_due_idx" in sweep_plan()
                figure("sweep_uses_partial_index", "yes" if uses_index else "no")
                failed |= ratio > TARGET_SWEEP_RATIO or not uses_index

            workers = start_workers(env, name="bench")
            time.sleep(3)  # let the workers connect
            paid_seconds, done_seconds, mailed_seconds = run_end_to_end()
            check_exactly_once()
            figure("renewals_charged_per_second", round(DUE / paid_seconds, 1))
            figure("renewal_emails_sent_per_second", round(DUE / mailed_seconds, 1))
            rate = DUE / done_seconds
            figure("renewals_per_second", round(rate, 1))
            figure("renewals_target_per_second", TARGET_RATE)
            failed |= rate < TARGET_RATE
        finally:
            stop([*workers, carrier])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
