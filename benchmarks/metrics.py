"""Recovery-rate metrics over a million charge attempts on PostgreSQL: how fast each report answers,
called directly and through the HTTP API.

    .venv/bin/python benchmarks/metrics.py [--postgres-url URL] [--attempts 1000000]
        [--cases 300000] [--repeat 20] [--days 90] [--explain] [--keep]

A new database is created next to --postgres-url's (default: $RECOVERY_BENCH_POSTGRES_URL, else
postgresql://postgres@127.0.0.1:5432/postgres), migrated, filled with COPY (a year of cases, 90%
of them the measured account's, the rest a second account's; attempts, messages) and dropped at
the end unless --keep. Each report is timed --repeat times for the last --days days (30-day
window), first as the function the CLI calls, then as the API's GET with a read token (httpx
through the ASGI app, so no socket in the way); the table gives p50 and p95 in ms. --explain
prints EXPLAIN ANALYZE of every statement each report runs.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from sqlalchemy import event, func, select
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models import RecoveryCase  # noqa: E402
from models.recovery_case import TALLY_COLUMNS  # noqa: E402
from recovery.accounts.tokens import create_token  # noqa: E402
from recovery.app import create_app  # noqa: E402
from recovery.engine.case_tallies import recount  # noqa: E402
from recovery.reports import at_risk, channels, effort, offenders, recovered_by  # noqa: E402
from recovery.reports.cohort import Period  # noqa: E402
from recovery.reports.groups import Grouping  # noqa: E402
from recovery.reports.recovery_curve import recovery_curve  # noqa: E402
from recovery.reports.recovery_rates import recovery_rate  # noqa: E402
from recovery.runtime import migrations  # noqa: E402
from recovery.runtime.clock import VirtualClock  # noqa: E402
from recovery.runtime.db import normalize_url  # noqa: E402
from recovery.runtime.settings import Settings  # noqa: E402
from recovery.wiring import build_services  # noqa: E402

ACCOUNT, OTHER = "acct_bench", "acct_bench_other"
NOW = datetime(2026, 12, 1, tzinfo=UTC)
YEAR = timedelta(days=365)


# --- the data ----------------------------------------------------------------------------------

def weighted(rng: random.Random, table: dict):
    return rng.choices(list(table), weights=list(table.values()))[0]


CLASSES = {"retry": 55, "retry_limited": 15, "new_payment_method": 18, "stop": 5,
           "authentication": 4, None: 3}
BRANDS = {"visa": 55, "mastercard": 30, "amex": 10, "discover": 5}
COUNTRIES = {"US": 60, "GB": 10, "DE": 10, "FR": 8, "CA": 7, "NL": 5}
CURRENCIES = {"usd": 80, "eur": 12, "gbp": 8}
HOW = {"retry": 50, "card_update": 15, "customer": 25, "offer": 5, "stripe": 5}
ENDINGS = {"exhausted": 30, "canceled": 7, "closed_elsewhere": 3}


def make_cases(rng: random.Random, count: int) -> list[dict]:
    """Cases in the order they opened, as a live database numbers and stores them."""
    cases = []
    firsts = sorted(NOW - YEAR + timedelta(seconds=rng.randrange(int(YEAR.total_seconds())))
                    for _ in range(count))
    for case_id, first in enumerate(firsts, start=1):
        young = NOW - first < timedelta(days=30)
        status = "open" if young and rng.random() < 0.5 else (
            "recovered" if rng.random() < 0.6 else weighted(rng, ENDINGS))
        delay = timedelta(hours=min(rng.expovariate(1 / 120), 60 * 24)) \
            if status == "recovered" else timedelta(days=rng.uniform(21, 45))
        closed = None if status == "open" else min(first + delay, NOW)
        cases.append({
            "id": case_id, "account": ACCOUNT if rng.random() < 0.9 else OTHER,
            "customer": f"cus_{rng.randrange(count // 3)}", "first": first, "status": status,
            "closed": closed, "how": weighted(rng, HOW) if status == "recovered" else None,
            "currency": weighted(rng, CURRENCIES),
            "amount": rng.choice((900, 1900, 4900, 9900, 29900)),
            "plan": weighted(rng, {30: 85, 365: 10, None: 5}),
            "policy": weighted(rng, {None: 50, 1: 20, 2: 20, 3: 10}),
            "arm": weighted(rng, {None: 70, "control": 15, "treatment": 15}),
            "failures": 1 + min(int(rng.expovariate(1 / 2.0)), 9)})
    return cases


def fit_attempts(rng: random.Random, cases: list[dict], attempts: int) -> None:
    """Adjust failures so that failures plus successful charges come to exactly ``attempts``."""
    paid = sum(1 for c in cases if c["how"] in ("retry", "card_update", "offer"))
    total = sum(c["failures"] for c in cases) + paid
    while total != attempts:
        case = rng.choice(cases)
        if total < attempts:
            case["failures"] += 1
            total += 1
        elif case["failures"] > 1:
            case["failures"] -= 1
            total -= 1


def attempt_rows(rng: random.Random, cases: list[dict]):
    charge = 0
    for c in cases:
        span = (c["closed"] or NOW) - c["first"]
        moments = sorted([c["first"]] + [c["first"] + span * rng.random()
                                         for _ in range(c["failures"] - 1)])
        first_class, brand, country = (weighted(rng, CLASSES), weighted(rng, BRANDS),
                                       weighted(rng, COUNTRIES))
        for n, moment in enumerate(moments):
            charge += 1
            decline = first_class if n == 0 else weighted(rng, CLASSES)
            yield (c["account"], c["id"], f"in_{c['id']}", f"ch_{charge}", moment,
                   "stripe" if n == 0 else "engine", False, decline, brand, country,
                   c["amount"], c["currency"], moment)
        if c["how"] in ("retry", "card_update", "offer"):
            charge += 1
            yield (c["account"], c["id"], f"in_{c['id']}", f"ch_{charge}", c["closed"],
                   "engine", True, None, brand, country, c["amount"], c["currency"], c["closed"])


def message_rows(rng: random.Random, cases: list[dict]):
    n = 0
    for c in cases:
        end = c["closed"] or NOW
        plan = [("payment_failed", "email", c["first"] + timedelta(hours=1))]
        if rng.random() < 0.2:
            plan.append(("card_update_request", "sms", c["first"] + timedelta(days=2)))
        plan.append(("reminder", "email", c["first"] + timedelta(days=7)))
        if c["status"] == "exhausted":
            plan.append(("final_notice", "email", end - timedelta(days=1)))
        if c["status"] == "recovered":
            plan.append(("payment_recovered", "email", end + timedelta(minutes=5)))
        for kind, channel, moment in plan:
            if moment > end and kind != "payment_recovered" or moment > NOW:
                continue
            n += 1
            status = "sent" if rng.random() < 0.97 else "failed"
            yield (c["account"], c["id"], f"<m{n}@bench>", c["customer"], kind, channel,
                   kind, status, 0, moment, moment if status == "sent" else None)


def tallies(cases: list[dict], attempts: list[tuple], messages: list[tuple]) -> None:
    """Each case's tallies (``recovery/engine/case_tallies.py``), as the engine keeps them while
    it records the attempts and messages; attempts are numbered in time order."""
    by_case: dict[int, list[tuple]] = {}
    for row in sorted(attempts, key=lambda r: r[4]):
        by_case.setdefault(row[1], []).append(row)
    sent: dict[int, list[tuple]] = {}
    for row in sorted(messages, key=lambda r: r[10] or NOW):
        sent.setdefault(row[1], []).append(row)
    for c in cases:
        rows = by_case.get(c["id"], [])
        failed = [row for row in rows if not row[6]]
        counted = [row for row in sent.get(c["id"], []) if row[7] == "sent"
                   and (c["closed"] is None or row[10] <= c["closed"])]
        c["tallies"] = (
            failed[0][7] if failed else None, failed[0][8] if failed else None,
            failed[0][9] if failed else None, len(rows),
            sum(1 for row in rows if row[5] == "engine"), len(failed),
            next((n for n, row in enumerate(rows, start=1) if row[6]), None), len(counted),
            counted[-1][5] if counted else None, counted[-1][10] if counted else None)


def seed(url: str, cases_count: int, attempts: int) -> tuple[int, int, int]:
    rng = random.Random(20261201)
    cases = make_cases(rng, cases_count)
    fit_attempts(rng, cases, attempts)
    # Attempts and messages in time order, as they are written on a live database.
    attempts_made = sorted(attempt_rows(rng, cases), key=lambda r: r[4])
    messages_made = sorted(message_rows(rng, cases), key=lambda r: r[9])
    tallies(cases, attempts_made, messages_made)
    counts = [0, 0, 0]
    with psycopg.connect(url) as connection:
        connection.execute(
            "INSERT INTO account (id, name, livemode, webhook_secrets, created_at) VALUES "
            "(%s, 'bench', false, '', %s), (%s, 'other', false, '', %s)",
            (ACCOUNT, NOW, OTHER, NOW))
        counts[0] = _copy(connection, "recovery_case", (
            "id", "account_id", "stripe_invoice_id", "stripe_customer_id", "amount_due",
            "currency", "status", "waiting_for", "recovered_by", "customer_timezone",
            "plan_interval_days", "engine_retries", "policy_version", "experiment_arm",
            "first_failed_at", "closed_at", "created_at", "updated_at", "first_decline_class",
            "first_card_brand", "first_card_country", "attempt_count", "engine_attempt_count",
            "failed_attempt_count", "paying_attempt_number", "message_count",
            "last_message_channel", "last_message_at"),
            ((c["id"], c["account"], f"in_{c['id']}", c["customer"], c["amount"], c["currency"],
              c["status"], "retry" if c["status"] == "open" else "nothing", c["how"], "UTC",
              c["plan"], c["failures"] - 1, c["policy"], c["arm"], c["first"], c["closed"],
              c["first"], c["closed"] or c["first"], *c["tallies"]) for c in cases))
        connection.execute("SELECT setval('recovery_case_id_seq', %s)", (cases_count,))
        counts[1] = _copy(connection, "charge_attempt", (
            "account_id", "case_id", "stripe_invoice_id", "stripe_charge_id", "attempted_at",
            "by", "succeeded", "decline_class", "card_brand", "card_country", "amount",
            "currency", "created_at"), attempts_made)
        counts[2] = _copy(connection, "message", (
            "account_id", "case_id", "message_id", "stripe_customer_id", "kind", "channel",
            "subject", "status", "tries", "created_at", "sent_at"), messages_made)
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")  # as autovacuum would have on a live database
    return tuple(counts)


def _copy(connection, table: str, columns: tuple[str, ...], rows) -> int:
    count = 0
    with connection.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


# --- the timings -------------------------------------------------------------------------------

def reports(period: Period) -> dict[str, tuple[Callable, str]]:
    """Each report: the function the CLI calls (given a session), and the API path."""
    days, within = f"start={period.start.date()}&end={period.end.date()}", period.within_days
    query = f"{days}&within={within}"
    entries = {"recovery rate": (lambda s: recovery_rate(s, ACCOUNT, period),
                                 f"/v1/metrics/recovery-rate?{query}")}
    for grouping in Grouping:
        entries[f"recovery rate by {grouping.value}"] = (
            lambda s, g=grouping: recovery_rate(s, ACCOUNT, period, by=g),
            f"/v1/metrics/recovery-rate?{query}&by={grouping.value}")
    entries.update({
        "recovery curve": (lambda s: recovery_curve(s, ACCOUNT, period),
                           f"/v1/metrics/recovery-curve?{query}"),
        "recovered by": (lambda s: recovered_by.recovered_by_shares(s, ACCOUNT, period),
                         f"/v1/metrics/recovered-by?{query}"),
        "attempts and messages per recovery": (
            lambda s: effort.effort_per_recovery(s, ACCOUNT, period),
            f"/v1/metrics/effort?{query}"),
        "open cases at risk": (lambda s: at_risk.cases_at_risk(s, ACCOUNT, period),
                               f"/v1/metrics/at-risk?{query}"),
        "biggest offenders": (lambda s: offenders.biggest_offenders(s, ACCOUNT, period),
                              f"/v1/metrics/offenders?{query}"),
        "channels": (lambda s: channels.channel_effectiveness(s, ACCOUNT, period),
                     f"/v1/metrics/channels?{query}"),
        "templates": (lambda s: channels.template_effectiveness(s, ACCOUNT, period),
                      f"/v1/metrics/templates?{query}"),
    })
    return entries


def timed(call: Callable[[], object], repeat: int) -> tuple[float, float]:
    call()  # warm: plans and pages cached, as on a server that has been answering
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[max(0, math.ceil(0.95 * len(samples)) - 1)]


def explain(services, name: str, run: Callable) -> None:
    statements: list[tuple[str, object]] = []

    def capture(_conn, _cursor, statement, parameters, _context, _many) -> None:
        statements.append((statement, parameters))

    event.listen(services.db_engine, "before_cursor_execute", capture)
    with services.sessions() as session:
        run(session)
    event.remove(services.db_engine, "before_cursor_execute", capture)
    print(f"\n=== {name}")
    raw = services.db_engine.raw_connection()
    try:
        cursor = raw.cursor()
        for statement, parameters in statements:
            if not statement.lstrip().upper().startswith(("SELECT", "WITH")):
                cursor.execute(statement, parameters)  # the session's settings
                continue
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
            print("\n".join(row[0] for row in cursor.fetchall()))
    finally:
        raw.close()


def check_tallies(services, sample: int = 300) -> None:
    """The seeded tallies are the engine's: a sample of cases recounted from their rows by
    ``recovery/engine/case_tallies.py`` must come out the same."""
    with services.sessions() as session:
        cases = session.scalars(select(RecoveryCase).order_by(func.random()).limit(sample)).all()
        seeded = [{name: getattr(c, name) for name in TALLY_COLUMNS} for c in cases]
        for case in cases:
            recount(session, case)
        recounted = [{name: getattr(c, name) for name in TALLY_COLUMNS} for c in cases]
        session.rollback()
    if seeded != recounted:
        raise SystemExit("the seeded case tallies differ from the engine's recount")


def measure(url: str, args) -> list[tuple[str, float, float, float, float]]:
    clock = VirtualClock(NOW)
    settings = Settings(database_url=url, account_id=ACCOUNT, run_worker=False)
    services = build_services(settings, clock)
    period = Period(NOW - timedelta(days=args.days), NOW, 30)
    results = []
    try:
        from fastapi.testclient import TestClient

        check_tallies(services)

        _info, token = create_token(services.sessions, clock, account_id=ACCOUNT, name="bench",
                                    scopes=["read"], actor="benchmark")
        headers = {"Authorization": f"Bearer {token}"}
        with TestClient(create_app(services, run_worker=False)) as client:
            for name, (run, path) in reports(period).items():
                if args.explain:
                    explain(services, name, run)

                def direct(run=run):
                    with services.sessions() as session:
                        run(session)

                def http(path=path):
                    answer = client.get(path, headers=headers)
                    assert answer.status_code == 200, (path, answer.text[:300])

                results.append((name, *timed(direct, args.repeat), *timed(http, args.repeat)))
                print(f"  {name}: {results[-1][1]:.1f} ms", file=sys.stderr)
    finally:
        services.close()
    return results


# --- the run -----------------------------------------------------------------------------------

def database_urls(base: str, name: str) -> tuple[str, str]:
    """(psycopg URL, SQLAlchemy URL) of the database ``name`` next to ``base``."""
    parsed = make_url(normalize_url(base)).set(database=name)
    return (parsed.set(drivername="postgresql").render_as_string(hide_password=False),
            parsed.render_as_string(hide_password=False))


def admin(base: str, sql: str) -> None:
    url = make_url(normalize_url(base)).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as c:
        c.execute(sql)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres-url", default=os.environ.get(
        "RECOVERY_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--attempts", type=int, default=1_000_000)
    parser.add_argument("--cases", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--database", help="reuse this database (already seeded by --keep)")
    parser.add_argument("--seed-only", action="store_true", help="seed, keep, and stop")
    args = parser.parse_args()
    name = args.database or f"recovery_bench_metrics_{uuid.uuid4().hex[:8]}"
    raw_url, url = database_urls(args.postgres_url, name)
    try:
        if not args.database:
            admin(args.postgres_url, f'CREATE DATABASE "{name}"')
            migrations.upgrade(url)
            started = time.perf_counter()
            cases, attempts, messages = seed(raw_url, args.cases, args.attempts)
            print(f"seeded {cases:,} cases, {attempts:,} attempts, {messages:,} messages in "
                  f"{time.perf_counter() - started:.0f} s ({name})", file=sys.stderr)
        if args.seed_only:
            print(url)
            return
        results = measure(url, args)
    finally:
        if not (args.keep or args.seed_only or args.database):
            admin(args.postgres_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    load = " / ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"\nLast {args.days} days, within 30 days, {args.repeat} runs each (ms); load average "
          f"at the end {load}\n")
    print("| report | function p50 | function p95 | API p50 | API p95 |")
    print("|---|---:|---:|---:|---:|")
    for report, p50, p95, api50, api95 in results:
        print(f"| {report} | {p50:.1f} | {p95:.1f} | {api50:.1f} | {api95:.1f} |")


if __name__ == "__main__":
    main()
