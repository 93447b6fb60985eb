"""bench/reminders.py: expiry reminders at scale.

1. The reminder sweep (notifications.tasks.reminder_sweep, the task itself) finds and
   records the reminders of 10,000 due eSIMs among 100,000 and then among 1,000,000
   (the rest with plans running, waiting or ended, due later or never): each must take
   under 10 seconds, and the time must follow the due eSIMs, not all of them (ratio of
   the two at most 1.5). Each timing asks for the messages for real (rows written,
   tasks queued on commit) and is then undone.
2. Sending: the 10,000 reminder emails the sweep asked for are sent with
   notifications.services.notifications_deliver, a hundred to a call and four calls at
   once as a worker's threads do, through Django's SMTP backend to a real local SMTP
   server (aiosmtpd in a subprocess): at least 200 emails per second, each received
   once. Three in ten say when and how much auto-renewal will charge, with a skip link;
   the others offer a renew link.

Prints one `figure: value` line per measure and exits 1 when a target is missed. Needs
PostgreSQL (exits 2 without it); Redis is used as the task broker when it runs.
"""

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    PYTHON,
    ROOT,
    bench_environment,
    django_setup,
    figure,
    free_port,
    stop,
)
from portal.probe import tcp_reachable  # noqa: E402

DUE = int(os.environ.get("BENCH_DUE", "10000"))
TOTALS = tuple(int(t) for t in os.environ.get("BENCH_TOTALS", "100000,1000000").split(","))
TARGET_SWEEP_SECONDS = 10.0
TARGET_SWEEP_RATIO = 1.5
TARGET_EMAILS_PER_SECOND = 200.0
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
# Messages sent side by side, as one worker's threads do (bench/renewals.py runs its
# workers with --pool=threads --concurrency=4).
SENDERS = int(os.environ.get("BENCH_SENDERS", "4"))
# Ids of the filler rows are these offsets plus their number (one statement each).
_QUEUED_OFFSET = 5_000_000

SMTP_SERVER = """
import sys, threading, time
from aiosmtpd.controller import Controller

class Count:
    received = 0
    async def handle_DATA(self, server, session, envelope):
        Count.received += 1
        return "250 OK"

controller = Controller(Count(), hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
while True:
    with open(sys.argv[2] + ".tmp", "w") as out:
        out.write(str(Count.received))
    import os; os.replace(sys.argv[2] + ".tmp", sys.argv[2])
    time.sleep(0.2)
"""


def start_smtp(var_dir: str) -> tuple[subprocess.Popen, int, Path]:
    """A real SMTP server on a free port that counts the messages it receives."""
    port = free_port()
    counter = Path(var_dir) / "smtp-received"
    proc = subprocess.Popen([PYTHON, "-c", SMTP_SERVER, str(port), str(counter)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        if tcp_reachable("127.0.0.1", port):
            return proc, port, counter
        time.sleep(0.1)
    raise SystemExit("the SMTP server did not start")


def smtp_received(counter: Path) -> int:
    time.sleep(0.5)  # the server writes its count five times a second
    return int(counter.read_text()) if counter.exists() else 0


def make_plans() -> dict:
    from tests.factories import PlanFactory

    return {
        "week": PlanFactory(code="bench-week", name="Japan week", validity_days=7,
                            data_mb=3 * 1024, is_auto_renewable=True),
        "month": PlanFactory(code="bench-month", name="Japan month", validity_days=30,
                             data_mb=10 * 1024, is_auto_renewable=True,
                             prices={"USD": 1800, "EUR": 1700, "CNY": 12800}),
    }


def make_due(plans: dict) -> None:
    """DUE customers, each with an installed eSIM whose 30-day plan is seven days (less
    up to an hour) from its end: its "7 days left" reminder is due. Three in ten have
    auto-renewal on with a card that can be charged (their reminder says when and how
    much); the others are offered a renew link."""
    from datetime import timedelta

    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.utils import timezone

    from accounts.models import User
    from billing.models import Order, PaymentMethod
    from esims.models import Bundle, ESim

    month = plans["month"]
    now = timezone.now()
    password = make_password(None)
    with transaction.atomic():
        users = User.objects.bulk_create(
            [User(email=f"due{i}@example.com", password=password) for i in range(DUE)],
            batch_size=2000)
        renewing = [u for i, u in enumerate(users) if i % 10 < 3]
        methods = {m.customer_id: m for m in PaymentMethod.objects.bulk_create(
            [PaymentMethod(customer=u, gateway="simulated", setup_reference=f"seti_b{u.pk}",
                           reference=f"pm_b{u.pk}", status="active", brand="visa",
                           last4="4242", exp_month=12, exp_year=2035, saved_at=now)
             for u in renewing], batch_size=2000)}
        ends = [now + timedelta(days=7) - timedelta(seconds=i % 3600 + 1) for i in range(DUE)]
        esims = ESim.objects.bulk_create(
            [ESim(owner=u, nickname="Phone", state=ESim.State.INSTALLED,
                  iccid=f"8988247{i:013d}", smdp_address="smdp.example", matching_id=f"M{i}",
                  auto_renew=u.pk in methods, auto_renew_since=now if u.pk in methods else None,
                  renewal_plan=month if u.pk in methods else None,
                  renewal_payment_method=methods.get(u.pk), installed_at=now,
                  reminder_due_at=end - timedelta(days=7))
             for i, (u, end) in enumerate(zip(users, ends, strict=True))], batch_size=2000)
        orders = Order.objects.bulk_create(
            [Order(customer=u, kind=Order.Kind.NEW_ESIM, plan=month, esim=e, nickname="Phone",
                   currency="USD", amount_minor=1800, status=Order.Status.COMPLETED,
                   idempotency_key=f"bench-{e.pk}", paid_at=now, completed_at=now)
             for u, e in zip(users, esims, strict=True)], batch_size=2000)
        Bundle.objects.bulk_create(
            [Bundle(esim=e, order=o, plan=month, plan_code=month.code, plan_name=month.name,
                    validity_days=30, data_allowance_bytes=10 * 1024 ** 3,
                    data_used_bytes=4 * 1024 ** 3, state=Bundle.State.ACTIVE,
                    carrier_reference=f"due-{o.number}", applied_at=now,
                    starts_at=end - timedelta(days=30), ends_at=end,
                    created_at=end - timedelta(days=30, hours=1))
             for e, o, end in zip(esims, orders, ends, strict=True)], batch_size=2000)


def _insert_select(cursor, model, *, series: str, columns: dict[str, str]) -> None:
    """INSERT ... SELECT over `series` (a FROM clause naming `n`): the given columns as
    SQL expressions, every other column that needs a value from its field's default."""
    from django.db import connection

    values = dict(columns)
    params: list = []
    for field in model._meta.concrete_fields:
        if field.column in values or field.null:
            continue
        default = field.default
        if getattr(field, "auto_now", False) or (
                callable(default) and field.get_internal_type() == "DateTimeField"):
            values[field.column] = "now()"
            continue
        value = None if callable(default) else field.get_default()  # "" for text
        if value is None:
            raise ValueError(f"{model.__name__}.{field.name} needs a value")
        values[field.column] = "%s"
        params.append(field.get_db_prep_value(value, connection))
    # No literal percent sign in the expressions (mod() instead): they go with params.
    cursor.execute(f"INSERT INTO {model._meta.db_table} ({', '.join(values)}) "  # noqa: S608
                   f"SELECT {', '.join(values.values())} FROM {series}", params)


def fill_to(total: int, plans: dict, offsets: dict) -> None:
    """Add eSIMs that are not due until there are `total`, each with its order and plan
    as the carrier reports them: one in ten ended (no reminder ever), two in ten on a
    week plan and seven on a month plan, due days to weeks from now; one in ten of
    those has a month renewal waiting. Owners are the due customers, in turn."""
    from django.db import connection

    from billing.models import Order
    from esims.models import Bundle, ESim

    have = ESim.objects.count()
    if have >= total:
        return
    week, month = plans["week"], plans["month"]
    first, last = have + 1, total
    series = f"generate_series({first}, {last}) AS n"
    owner = f"({offsets['user']} + mod(n, {DUE}))"
    kind = "CASE WHEN mod(n, 10) = 0 THEN 'ended' WHEN mod(n, 10) < 3 THEN 'week' ELSE 'month' END"
    end = ("CASE WHEN mod(n, 10) = 0 THEN now() - (mod(n, 60) + 1) * interval '1 day' "
           "WHEN mod(n, 10) < 3 THEN now() + (mod(n, 5) + 2) * interval '1 day' "
           "ELSE now() + (mod(n, 22) + 8) * interval '1 day' END "
           "+ mod(n, 86400) * interval '1 second'")
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO off")
        _insert_select(cursor, ESim, series=series, columns={
            "id": f"{offsets['esim']} + n", "owner_id": owner, "nickname": "'Phone'",
            "eid": "''",
            "state": "CASE WHEN mod(n, 10) = 0 THEN 'expired' ELSE 'installed' END",
            "iccid": "'8944' || lpad(n::text, 15, '0')", "smdp_address": "'smdp.example'",
            "matching_id": "'F' || n", "ready_at": "now()", "installed_at": "now()",
            # As the receiver sets it: the next reminder moment (none for an ended plan;
            # a plan with a month waiting is reminded 30 days before the new end).
            "reminder_due_at": (f"CASE WHEN mod(n, 10) = 0 THEN NULL "
                                f"WHEN mod(n, 10) = 5 THEN {end} "
                                f"WHEN mod(n, 10) < 3 THEN {end} - interval '1 day' "
                                f"ELSE {end} - interval '7 days' END")})
        for queued in (False, True):
            base = offsets["order"] + (_QUEUED_OFFSET if queued else 0)
            only = "WHERE mod(n, 10) = 5" if queued else ""
            plan = month if queued else None
            _insert_select(cursor, Order, series=f"{series} {only}", columns={
                "id": f"{base} + n", "number": f"'{'BQ' if queued else 'BF'}' || n",
                "customer_id": owner, "esim_id": f"{offsets['esim']} + n",
                "kind": f"'{'renewal' if queued else 'new_esim'}'",
                "plan_id": str(plan.pk) if plan else
                f"CASE WHEN {kind} = 'week' THEN {week.pk} ELSE {month.pk} END",
                "nickname": "'Phone'", "currency": "'USD'", "amount_minor": "1800",
                "idempotency_key": f"'bench-{'q' if queued else 'f'}-' || n",
                "status": "'completed'", "paid_at": "now()", "completed_at": "now()",
                "failure_reason": "''"})
            bundle_base = offsets["bundle"] + (_QUEUED_OFFSET if queued else 0)
            validity = "30" if queued else f"CASE WHEN {kind} = 'week' THEN 7 ELSE 30 END"
            columns = {
                "id": f"{bundle_base} + n", "esim_id": f"{offsets['esim']} + n",
                "order_id": f"{base} + n",
                "plan_id": str(month.pk) if queued else
                f"CASE WHEN {kind} = 'week' THEN {week.pk} ELSE {month.pk} END",
                "plan_code": f"'{month.code}'" if queued else
                f"CASE WHEN {kind} = 'week' THEN '{week.code}' ELSE '{month.code}' END",
                "plan_name": f"'{month.name}'" if queued else
                f"CASE WHEN {kind} = 'week' THEN '{week.name}' ELSE '{month.name}' END",
                "validity_days": validity,
                "data_allowance_bytes": f"({validity}) * 350 * 1024 * 1024::bigint",
                "data_used_bytes": "0" if queued else "(mod(n, 1000)) * 1024 * 1024::bigint",
                "carrier_reference": f"'{'bq' if queued else 'bf'}-' || n",
                "applied_at": "now()",
                "state": "'queued'" if queued else
                f"CASE WHEN {kind} = 'ended' THEN 'expired' ELSE 'active' END"}
            if not queued:
                columns.update(starts_at=f"{end} - ({validity}) * interval '1 day'",
                               ends_at=end, usage_reported_at="now()")
            _insert_select(cursor, Bundle, series=f"{series} {only}", columns=columns)
        for model in (ESim, Order, Bundle):
            table = model._meta.db_table
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                           f"(SELECT max(id) FROM {table}))")
        # Vacuumed and checkpointed now, so that neither autovacuum nor the checkpointer
        # does it in the middle of the timings.
        for model in (ESim, Order, Bundle):
            cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")
        cursor.execute("CHECKPOINT")


def offsets_after_due() -> dict:
    from django.db.models import Max, Min

    from accounts.models import User
    from billing.models import Order
    from esims.models import Bundle, ESim

    users = User.objects.filter(email__startswith="due").aggregate(low=Min("pk"), high=Max("pk"))
    assert users["high"] - users["low"] + 1 == DUE, "the due customers' ids are not in a row"
    return {"user": users["low"],
            "esim": ESim.objects.aggregate(m=Max("pk"))["m"],
            "order": Order.objects.aggregate(m=Max("pk"))["m"],
            "bundle": Bundle.objects.aggregate(m=Max("pk"))["m"]}


def reset_due() -> None:
    """Undo a sweep: its messages gone, the due eSIMs due again."""
    from django.db import connection

    from esims.models import ESim
    from notifications.models import Notification

    with connection.cursor() as cursor:
        Notification.objects.filter(kind=Notification.Kind.EXPIRY_REMINDER).delete()
        cursor.execute(
            f"UPDATE {ESim._meta.db_table} AS e SET reminder_due_at = b.ends_at - interval "  # noqa: S608
            "'7 days' FROM esims_bundle AS b WHERE b.esim_id = e.id AND "
            "b.carrier_reference LIKE 'due-%'")
        assert cursor.rowcount == DUE, cursor.rowcount
        cursor.execute(f"VACUUM ANALYZE {ESim._meta.db_table}")
        cursor.execute(f"VACUUM ANALYZE {Notification._meta.db_table}")


def time_sweep() -> float:
    """Seconds the reminder task takes to find and record every due eSIM (median)."""
    from notifications import tasks
    from notifications.models import Notification

    times = []
    for _ in range(REPEATS):
        reset_due()
        start = time.perf_counter()
        handled = tasks.reminder_sweep()
        times.append(time.perf_counter() - start)
        assert handled == DUE, handled
        made = Notification.objects.filter(kind=Notification.Kind.EXPIRY_REMINDER)
        assert made.count() == DUE, made.count()
    return statistics.median(times)


def sweep_plan() -> str:
    from django.db import connection
    from django.utils import timezone

    from esims.models import ESim

    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN SELECT id FROM {ESim._meta.db_table} "  # noqa: S608
                       "WHERE reminder_due_at <= %s ORDER BY reminder_due_at LIMIT 1000 "
                       "FOR UPDATE SKIP LOCKED", [timezone.now()])
        return " ".join(row[0] for row in cursor.fetchall())


def time_sending(counter: Path) -> float:
    """Emails a second: every reminder the sweep asked for, sent as the workers send
    them: SENDERS at once (a worker's threads), a hundred messages to a call and one SMTP
    connection per call."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    from notifications.models import Notification
    from notifications.requests import SEND_BATCH
    from notifications.services import notifications_deliver

    ids = list(Notification.objects.filter(kind=Notification.Kind.EXPIRY_REMINDER,
                                           channel=Notification.Channel.EMAIL,
                                           status=Notification.Status.PENDING)
               .order_by("pk").values_list("pk", flat=True))
    assert len(ids) == DUE, len(ids)

    def send(batch: list[int]) -> list:
        try:
            outcome = notifications_deliver(notification_ids=batch)
            return [error for error in outcome.values() if error is not None]
        finally:
            connections.close_all()  # this thread's connection

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=SENDERS) as pool:
        errors = [error for found in pool.map(
            send, [ids[i:i + SEND_BATCH] for i in range(0, len(ids), SEND_BATCH)])
            for error in found]
    seconds = time.perf_counter() - start
    assert not errors, errors[0]
    sent = Notification.objects.filter(pk__in=ids, status=Notification.Status.SENT).count()
    assert sent == DUE, sent
    received = smtp_received(counter)
    assert received == DUE, f"the SMTP server received {received} of {DUE}"
    return DUE / seconds


def main() -> int:
    if not tcp_reachable("127.0.0.1", 5432):
        print("bench/reminders.py needs PostgreSQL (127.0.0.1:5432).")
        return 2
    failed = False
    with bench_environment("reminders") as env:
        smtp, port, counter = start_smtp(env["PORTAL_VAR_DIR"])
        env.update(ALLOW_SIMULATED_PAYMENTS="true", PAYMENT_GATEWAY="simulated",
                   EMAIL_URL=f"smtp://127.0.0.1:{port}", SMS_BACKEND="locmem",
                   PORTAL_BASE_URL="https://portal.example", SECURE_SSL_REDIRECT="false",
                   CELERY_BROKER_URL=(env["REDIS_URL"].rsplit("/", 1)[0] + "/13"
                                      if "REDIS_URL" in env else "memory://"))
        try:
            django_setup(env)
            from portal.celery import app

            app.control.purge()
            plans = make_plans()
            make_due(plans)
            offsets = offsets_after_due()
            seconds = {}
            for total in TOTALS:
                fill_to(total, plans, offsets)
                seconds[total] = time_sweep()
                figure(f"sweep_seconds_{DUE}_due_of_{total}", round(seconds[total], 3))
                failed |= seconds[total] > TARGET_SWEEP_SECONDS
            ratio = seconds[TOTALS[1]] / seconds[TOTALS[0]]
            figure("sweep_time_ratio_1m_vs_100k", round(ratio, 2))
            uses_index = "esim_reminder_due_idx" in sweep_plan()
            figure("sweep_uses_partial_index", "yes" if uses_index else "no")
            figure("sweep_target_seconds", TARGET_SWEEP_SECONDS)
            failed |= ratio > TARGET_SWEEP_RATIO or not uses_index

            if os.environ.get("BENCH_PROFILE"):
                import cProfile
                import pstats

                profile = cProfile.Profile()
                rate = profile.runcall(time_sending, counter)
                pstats.Stats(profile).sort_stats("cumulative").print_stats(40)
            else:
                rate = time_sending(counter)
            figure("reminder_emails_per_second", round(rate, 1))
            figure("reminder_email_senders", SENDERS)
            figure("reminder_emails_target_per_second", TARGET_EMAILS_PER_SECOND)
            failed |= rate < TARGET_EMAILS_PER_SECOND
            app.control.purge()
        finally:
            stop([smtp])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
