"""Scheduler throughput: how fast the engine plans retries, and how many due retries worker
processes execute per second against a fake Stripe on loopback, with the rate limit lifted and at
the default (25 requests/s for a test key, one limit shared by every worker through the database).

    .venv/bin/python benchmarks/scheduler_throughput.py [--cases 100000] [--postgres-url URL]

Each database is seeded once with --cases open cases (one failed Stripe attempt and one scheduled
retry each) and cloned for every run. Retries fall due one a second; a run's virtual clock decides
how many are due, so every run starts from the same fresh copy with exactly the sample it needs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections import Counter
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import uvicorn
from sqlalchemy import String, cast, func, insert, literal, select, update
from sqlalchemy.engine import make_url
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models import (  # noqa: E402
    Account,
    ActionKind,
    ActionStatus,
    CaseStatus,
    ChargeAttempt,
    RecoveryCase,
    ScheduledAction,
    WaitingFor,
)
from recovery.actions.runner import run_due_actions  # noqa: E402
from recovery.engine.planning import Planner  # noqa: E402
from recovery.messaging.outbox import EmlOutboxChannel  # noqa: E402
from recovery.rules.declines import classify_decline  # noqa: E402
from recovery.rules.network_rules import AttemptRecord  # noqa: E402
from recovery.rules.policy import RetryContext, RetryPolicy, plan_next_retry  # noqa: E402
from recovery.runtime import migrations  # noqa: E402
from recovery.runtime.clock import VirtualClock  # noqa: E402
from recovery.runtime.db import make_engine, normalize_url, session_factory, transaction  # noqa: E402
from recovery.runtime.settings import Settings  # noqa: E402
from recovery.stripe_api.gateway import StripeGateway  # noqa: E402
from recovery.stripe_api.rate_limit import TEST_MODE_RATE, TokenBucket  # noqa: E402
from recovery.wiring import build_services, wire_engine  # noqa: E402
from webhooks.facts import DeclineInfo  # noqa: E402

ACCOUNT = "acct_default"
API_KEY = "sk_test_scheduler_benchmark"
FIRST_FAILED = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
FIRST_DUE = FIRST_FAILED + timedelta(days=2)  # retry n falls due n seconds after this
DECLINE = DeclineInfo(failure_code="card_declined", decline_code="insufficient_funds",
                      network_decline_code="51")
CHUNK = 5000


# The fake Stripe: two endpoints on loopback, served by uvicorn in a thread of this process.

def invoice_body(invoice_id: str, status: str) -> bytes:
    paid = status == "paid"
    return json.dumps({
        "id": invoice_id, "object": "invoice", "status": status, "currency": "usd",
        "customer": "cus_bench", "amount_due": 2900, "amount_paid": 2900 if paid else 0,
        "amount_remaining": 0 if paid else 2900, "attempt_count": 1, "attempted": True,
        "auto_advance": not paid, "collection_method": "charge_automatically",
        "next_payment_attempt": None, "hosted_invoice_url": None, "livemode": False,
        "parent": None, "default_payment_method": None,
    }).encode()


class FakeStripe:
    """Open invoices that ``pay`` settles, after ``latency`` seconds. Counts requests and pay
    idempotency keys; every handler runs on the server's one event loop, so no lock is needed."""

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.app = Starlette(routes=[
            Route("/v1/invoices/{invoice}", self.invoice, methods=["GET"]),
            Route("/v1/invoices/{invoice}/pay", self.pay, methods=["POST"]),
        ])
        self.reset()

    def reset(self) -> None:
        self.requests = 0
        self.pay_keys: Counter[str] = Counter()

    async def invoice(self, request) -> Response:
        return await self._answer(request.path_params["invoice"], "open")

    async def pay(self, request) -> Response:
        await request.body()
        self.pay_keys[request.headers.get("idempotency-key", "")] += 1
        return await self._answer(request.path_params["invoice"], "paid")

    async def _answer(self, invoice_id: str, status: str) -> Response:
        self.requests += 1
        if self.latency:
            await asyncio.sleep(self.latency)
        return Response(invoice_body(invoice_id, status), media_type="application/json")


@contextmanager
def serve(app):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


# Databases: PostgreSQL ones created (from a seeded template) and dropped; SQLite files copied.

def admin(admin_url: str, sql: str) -> None:
    url = make_url(normalize_url(admin_url)).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(sql)


@contextmanager
def fresh_database(kind: str, args, template_url: str | None = None):
    """A new empty database, or a copy of ``template_url``; dropped or deleted afterwards."""
    name = f"bench_scheduler_{uuid.uuid4().hex[:10]}"
    if kind == "postgres":
        source = f' TEMPLATE "{make_url(template_url).database}"' if template_url else ""
        admin(args.postgres_url, f'CREATE DATABASE "{name}"{source}')
        url = make_url(normalize_url(args.postgres_url)).set(database=name)
        try:
            yield url.render_as_string(hide_password=False)
        finally:
            admin(args.postgres_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        return
    path = args.directory / f"{name}.db"
    if template_url:
        shutil.copy(make_url(template_url).database, path)
    try:
        yield f"sqlite:///{path}"
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def case_row(n: int) -> dict:
    return dict(account_id=ACCOUNT, stripe_invoice_id=f"in_bench{n:07d}",
                stripe_customer_id=f"cus_bench{n:07d}", amount_due=2900, currency="usd",
                status=CaseStatus.open.value, waiting_for=WaitingFor.retry.value,
                card_fingerprint=f"fp_bench{n:07d}", card_brand="visa",
                payment_method_id=f"pm_bench{n:07d}", customer_timezone="UTC",
                last_decline_class="retry", engine_retries=0, first_failed_at=FIRST_FAILED,
                created_at=FIRST_FAILED, updated_at=FIRST_FAILED)


def attempt_row(n: int, case_id: int) -> dict:
    return dict(account_id=ACCOUNT, case_id=case_id, stripe_invoice_id=f"in_bench{n:07d}",
                stripe_charge_id=f"ch_bench{n:07d}", attempted_at=FIRST_FAILED, by="stripe",
                succeeded=False, card_fingerprint=f"fp_bench{n:07d}", card_brand="visa",
                failure_code=DECLINE.failure_code, decline_code=DECLINE.decline_code,
                network_decline_code=DECLINE.network_decline_code, decline_class="retry",
                amount=2900, currency="usd", created_at=FIRST_FAILED)


def retry_row(n: int, case_id: int) -> dict:
    return dict(account_id=ACCOUNT, case_id=case_id, kind=ActionKind.retry.value,
                due_at=FIRST_DUE + timedelta(seconds=n), status=ActionStatus.scheduled.value,
                reason="retry 1 of 5", tries=0, created_at=FIRST_FAILED)


def seed(url: str, cases: int) -> None:
    """Migrate, then bulk-insert the cases, their attempts and their retries with SQLAlchemy
    core, ``CHUNK`` rows per statement batch."""
    migrations.upgrade(url)
    engine = make_engine(url, pool_size=1)
    with engine.begin() as connection:
        connection.execute(insert(Account), [dict(id=ACCOUNT, name="benchmark", livemode=False,
                                                  webhook_secrets="", created_at=FIRST_FAILED)])
        for start in range(0, cases, CHUNK):
            numbers = range(start, min(start + CHUNK, cases))
            ids = connection.scalars(
                insert(RecoveryCase).returning(RecoveryCase.id, sort_by_parameter_order=True),
                [case_row(n) for n in numbers]).all()
            pairs = list(zip(numbers, ids, strict=True))
            connection.execute(insert(ChargeAttempt), [attempt_row(n, i) for n, i in pairs])
            connection.execute(insert(ScheduledAction), [retry_row(n, i) for n, i in pairs])
        # The engine's own key for every action: taken from the row's id.
        connection.execute(update(ScheduledAction).values(
            idempotency_key=literal("recovery:") + cast(ScheduledAction.id, String)))
    with engine.connect() as connection:
        # A live database has planner statistics (autovacuum gathers them); a bulk seed has
        # none, and PostgreSQL would then scan a whole account's attempts for one card.
        connection.exec_driver_sql("ANALYZE")
        connection.commit()
    engine.dispose()  # the last connection closing checkpoints SQLite's WAL into the file


# (a) Planning.

def pure_planning_rate(sample: int) -> float:
    """``plan_next_retry`` alone, in memory: the policy's own ceiling."""
    policy, label = RetryPolicy(), classify_decline(DECLINE, "visa")
    contexts = [RetryContext(
        now=FIRST_DUE, first_failed_at=FIRST_FAILED, retries_done=0, classification=label,
        card_fingerprint=f"fp{n}", card_brand="visa",
        history=(AttemptRecord(f"fp{n}", FIRST_FAILED, False, label, "stripe"),),
    ) for n in range(sample)]
    started = time.perf_counter()
    for context in contexts:
        plan_next_retry(policy, context)
    return sample / (time.perf_counter() - started)


def planning_rate(url: str, sample: int, chunk_size: int, plan_chunk) -> float:
    """Cases planned per second by ``plan_chunk(sessions, planner, case_ids)`` over the first
    ``sample`` cases (one failed attempt each), ``chunk_size`` cases per call."""
    engine = make_engine(url)
    sessions = session_factory(engine)
    planner = Planner(VirtualClock(FIRST_DUE))
    ids = first_case_ids(sessions, sample)
    started = time.perf_counter()
    for start in range(0, len(ids), chunk_size):
        plan_chunk(sessions, planner, ids[start:start + chunk_size])
    elapsed = time.perf_counter() - started
    engine.dispose()
    return len(ids) / elapsed


def plan_alone(sessions, planner: Planner, case_ids: list[int]) -> None:
    """A lone event: each case in its own transaction, planned at once (read case and attempt,
    classify, count retries, read the card's history, cancel the old retry, write the new retry
    and the notice)."""
    for case_id in case_ids:
        with transaction(sessions) as session:
            attempt = session.scalars(
                select(ChargeAttempt).where(ChargeAttempt.case_id == case_id)).one()
            planner.after_failure(session, session.get(RecoveryCase, case_id), attempt)


def plan_as_ingest_batch(sessions, planner: Planner, case_ids: list[int]) -> None:
    """As the ingest job plans a batch: in one transaction, read the batch's cases and attempts,
    ``after_failure`` for each inside ``Planner.deferring``, which plans them all together at the
    end (``replan_many``: set-based reads, one cancel, one multi-row insert)."""
    with transaction(sessions) as session, planner.deferring(session):
        batch = session.scalars(select(RecoveryCase).where(RecoveryCase.id.in_(case_ids))).all()
        attempts = {a.case_id: a for a in session.scalars(
            select(ChargeAttempt).where(ChargeAttempt.case_id.in_(case_ids)))}
        for case in batch:
            planner.after_failure(session, case, attempts[case.id])


def first_case_ids(sessions, sample: int) -> list[int]:
    with sessions() as session:
        return list(session.scalars(
            select(RecoveryCase.id).order_by(RecoveryCase.id).limit(sample)))


def measure_planning(kinds: list[str], templates: dict[str, str], args) -> list[tuple]:
    sample = min(args.plan_sample, args.cases)
    rows = [("-", "plan_next_retry alone, in memory (no database)", 20_000,
             pure_planning_rate(20_000))]
    for kind in kinds:
        with fresh_database(kind, args, templates[kind]) as url:
            rows.append((kind, "after_failure, planned at once, 1 case/transaction", sample,
                         planning_rate(url, sample, 1, plan_alone)))
        with fresh_database(kind, args, templates[kind]) as url:
            rows.append((kind, f"ingest batch of {args.batch_size}: deferred, replan_many",
                         sample, planning_rate(url, sample, args.batch_size,
                                               plan_as_ingest_batch)))
    return rows


# (b) Executing due retries in worker processes.

@dataclass(frozen=True)
class WorkerSpec:
    database_url: str
    api_base: str
    limited: bool
    worker_id: str
    now: datetime
    outbox: str
    batch_size: int


def worker_services(spec: WorkerSpec):
    """What ``recovery worker`` builds. Lifting the limit takes an unlimited bucket passed to the
    gateway: ``build_gateway`` always sets one (25 requests/s for a test key)."""
    settings = Settings(database_url=spec.database_url, stripe_api_key=API_KEY,
                        stripe_api_base=spec.api_base, outbox_dir=Path(spec.outbox),
                        run_worker=False, log_level="WARNING")
    services = build_services(settings, VirtualClock(spec.now))
    if not spec.limited:
        services.engine.gateway.close()
        gateway = StripeGateway(API_KEY, api_base=spec.api_base, rate_limiter=TokenBucket(None))
        wire_engine(services, gateway, EmlOutboxChannel(settings.outbox_dir))
    return services


def due_left(services) -> int:
    with services.sessions() as session:
        return session.scalar(select(func.count()).select_from(ScheduledAction).where(
            ScheduledAction.status == ActionStatus.scheduled.value,
            ScheduledAction.due_at <= services.clock.now()))


def drain(services, spec: WorkerSpec) -> int:
    """Run due actions until none is left unclaimed (on PostgreSQL an empty claim can mean that
    another worker's claim holds the last due rows' locks for an instant)."""
    finished = 0
    while True:
        result = run_due_actions(services.sessions, services.clock, services.steps,
                                 worker_id=spec.worker_id, batch_size=spec.batch_size)
        finished += result.done
        if not result.total and not due_left(services):
            return finished


def worker_main(spec: WorkerSpec, go, results) -> None:
    try:
        services = worker_services(spec)
        due_left(services)  # connect before the clock starts
        results.put(("ready", spec.worker_id, None))
        go.wait()
        finished = drain(services, spec)
        results.put(("done", spec.worker_id, (finished, time.time())))
        services.close()
    except BaseException:
        results.put(("error", spec.worker_id, traceback.format_exc()))


def collect(results, count: int) -> dict:
    got = {}
    while len(got) < count:
        what, worker, payload = results.get(timeout=3600)
        if what == "error":
            raise RuntimeError(f"worker {worker} failed:\n{payload}")
        got[worker] = payload
    return got


def run_workers(specs: list[WorkerSpec]) -> tuple[float, list[int]]:
    """One process per worker, released together: the wall time and each one's finished count."""
    context = multiprocessing.get_context("spawn")
    go, results = context.Event(), context.Queue()
    processes = [context.Process(target=worker_main, args=(s, go, results)) for s in specs]
    try:
        for process in processes:
            process.start()
        collect(results, len(specs))
        started = time.time()
        go.set()
        done = collect(results, len(specs))
        for process in processes:
            process.join()
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
    return max(end for _, end in done.values()) - started, [n for n, _ in done.values()]


@dataclass
class Run:
    database: str
    workers: int
    limited: bool
    due: int
    claim: int
    wall: float
    finished: list[int]
    retries_done: int
    requests: int
    pay_calls: int
    pay_keys: int

    @property
    def ok(self) -> bool:
        return self.retries_done == self.pay_calls == self.pay_keys == self.due


def retries_done(url: str) -> int:
    engine = make_engine(url, pool_size=1)
    with engine.connect() as connection:
        done = connection.scalar(select(func.count()).select_from(ScheduledAction).where(
            ScheduledAction.kind == ActionKind.retry.value,
            ScheduledAction.status == ActionStatus.done.value))
    engine.dispose()
    return done


@dataclass
class Bench:
    args: argparse.Namespace
    stripe: FakeStripe
    api_base: str
    templates: dict[str, str]

    def execute(self, kind: str, workers: int, due: int, limited: bool) -> Run:
        with fresh_database(kind, self.args, self.templates[kind]) as url:
            self.stripe.reset()
            now = FIRST_DUE + timedelta(seconds=due - 1)
            claim = claim_size(due, workers, self.args.batch_size)
            specs = [WorkerSpec(url, self.api_base, limited, f"{kind}-{n}", now,
                                str(self.args.directory / f"outbox-{n}"), claim)
                     for n in range(1, workers + 1)]
            wall, finished = run_workers(specs)
            keys = self.stripe.pay_keys
            run = Run(kind, workers, limited, due, claim, wall, finished, retries_done(url),
                      self.stripe.requests, sum(keys.values()), len(keys))
        print(f"  {kind} x{workers}, limit {'on' if limited else 'off'}: {due:,} retries in "
              f"{wall:.1f} s", file=sys.stderr)
        return run


def claim_size(due: int, workers: int, largest: int) -> int:
    """Small enough that every worker gets a share: with the limit on, a worker left alone with
    the last big claim would set the wall time."""
    return max(1, min(largest, due // (workers * 10)))


def choose_due(bench: Bench, kind: str) -> tuple[int, str]:
    """--due, else every case unless one worker would need more than --budget seconds for them
    (measured on a 1,000-retry sample); returns the size and a note saying how it was chosen."""
    args = bench.args
    if args.due:
        return min(args.due, args.cases), "set with --due"
    sample = bench.execute(kind, 1, min(1000, args.cases), False)
    rate = sample.due / sample.wall
    if args.cases / rate <= args.budget:
        return args.cases, "all cases"
    due = max(1000, int(rate * args.budget) // 1000 * 1000)
    return due, (f"scaled down: one {kind} worker ran {rate:,.0f} retries/s on a {sample.due:,}"
                 f" sample, so all {args.cases:,} would take ~{args.cases / rate:,.0f} s")


def measure_execution(kinds: list[str], bench: Bench) -> tuple[list[Run], str]:
    args = bench.args
    due, note = choose_due(bench, kinds[0])
    runs = []
    for limited, size in ((False, due), (True, min(args.limited_due, args.cases))):
        for kind in kinds:
            counts = [int(n) for n in args.workers.split(",")] if kind == "postgres" else [1]
            runs += [bench.execute(kind, workers, size, limited) for workers in counts]
    return runs, f"unlimited runs execute {due:,} due retries ({note})"


# The report.

PLANNING_ROW = "{:<9} {:<58} {:>7} {:>8} {:>6}"
EXECUTION_ROW = "{:<9} {:>7} {:>5} {:<19} {:>7} {:>6} {:>9} {:>9} {:>6} {:>11} {:>11} {:<20} {:>3}"


def print_planning(rows: list[tuple]) -> None:
    print("\n(a) Planning rate, one process (target >= 2,000 cases/s)")
    print(PLANNING_ROW.format("database", "what is timed", "cases", "cases/s", "target"))
    for database, what, cases, rate in rows:
        verdict = "PASS" if rate >= 2000 else "MISS"
        print(PLANNING_ROW.format(database, what, f"{cases:,}", f"{rate:,.0f}", verdict))


def execution_cells(run: Run) -> tuple:
    limit = f"{TEST_MODE_RATE:.0f}/s shared" if run.limited else "none"
    ceiling = f"{TEST_MODE_RATE:.0f}" if run.limited else "-"
    return (run.database, run.workers, run.claim, limit, f"{run.due:,}", f"{run.wall:.1f}",
            f"{run.due / run.wall:,.1f}", f"{sum(run.finished) / run.wall:,.1f}",
            f"{run.requests / run.wall:,.1f}", ceiling, f"{run.pay_calls}/{run.pay_keys}",
            "/".join(map(str, run.finished)), "yes" if run.ok else "NO")


def print_execution(runs: list[Run], sizing: str) -> None:
    print("\n(b) Executing due retries: claim, GET invoice, budget check, POST pay, record; each"
          " recovery queues a notice that the workers also run (actions = retries + notices);\n"
          f"    {sizing}; rate-limited runs use a smaller sample")
    print(EXECUTION_ROW.format("database", "workers", "claim", "Stripe limit", "retries", "wall s",
                               "retries/s", "actions/s", "req/s", "limit req/s", "pay/keys",
                               "actions per worker", "ok"))
    for run in runs:
        print(EXECUTION_ROW.format(*execution_cells(run)))
    print(f"The limit is per Stripe account: all workers together may send {TEST_MODE_RATE:.0f}"
          f" requests/s (plus a one-second burst), whatever their number.")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000, help="open cases per database")
    parser.add_argument("--due", type=int, default=0, help="due retries per unlimited run "
                        "(default: all cases, fewer if one worker needs over --budget s)")
    parser.add_argument("--budget", type=float, default=180.0)
    parser.add_argument("--limited-due", type=int, default=500)
    parser.add_argument("--plan-sample", type=int, default=2000)
    parser.add_argument("--workers", default="1,2,4", help="PostgreSQL worker counts")
    parser.add_argument("--batch-size", type=int, default=100,
                        help="largest claim (the job's); smaller when the sample is small")
    parser.add_argument("--stripe-latency-ms", type=float, default=0.0)
    parser.add_argument("--databases", default="postgres,sqlite")
    parser.add_argument("--parts", default="planning,execution",
                        help="what to measure: planning, execution or both")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    return parser.parse_args()


def seeded(kind: str, args, stack: ExitStack) -> str:
    url = stack.enter_context(fresh_database(kind, args))
    started = time.perf_counter()
    seed(url, args.cases)
    print(f"  {kind}: seeded {args.cases:,} cases in {time.perf_counter() - started:.0f} s",
          file=sys.stderr)
    return url


def main() -> int:
    args = parse_args()
    kinds = args.databases.split(",")
    load_before = os.getloadavg()[0]
    with ExitStack() as stack:
        args.directory = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        stripe = FakeStripe(args.stripe_latency_ms / 1000)
        api_base = stack.enter_context(serve(stripe.app))
        templates = {kind: seeded(kind, args, stack) for kind in kinds}
        parts = args.parts.split(",")
        planning = measure_planning(kinds, templates, args) if "planning" in parts else []
        runs, sizing = (measure_execution(kinds, Bench(args, stripe, api_base, templates))
                        if "execution" in parts else ([], ""))
    print(f"\nScheduler throughput: {args.cases:,} open cases per database; {os.cpu_count()} CPUs,"
          f" load average {load_before:.1f} before and {os.getloadavg()[0]:.1f} after; fake "
          f"Stripe (uvicorn, {args.stripe_latency_ms:g} ms per request) in the benchmark process")
    if planning:
        print_planning(planning)
    if runs:
        print_execution(runs, sizing)
    return 0 if all(run.ok for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
