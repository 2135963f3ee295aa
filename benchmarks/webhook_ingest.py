"""Webhook receiver throughput: the real app under uvicorn, per database, against a no-op ceiling.

Owns measurement only: it makes its own database, server and signed load, and changes no project
code (its ``/_bench`` routes are added to the benchmark's app instance, not to the project).

    .venv/bin/python benchmarks/webhook_ingest.py [--events 5000] [--concurrency 32]
        [--duplicates 0.1] [--databases sqlite,postgres]
        [--postgres-url postgresql://postgres@127.0.0.1:5432/postgres]

One uvicorn server (one process, in a thread) serves both ``POST /webhooks/stripe`` (the inbox)
and ``POST /_bench/noop`` (reads the body, answers a small JSON: the ceiling). A separate process
sends the same signed ``invoice.payment_failed`` bodies to each at a fixed concurrency, so the
load generator does not share the server's GIL. Afterwards the inbox must hold exactly the
distinct events sent (none lost, none stored twice) and every answer must have been 200. The
exit code is 1 only when that check fails; the performance target is reported, never enforced.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import socket
import statistics
import string
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass
from multiprocessing import get_context

import httpx
import psycopg
import stripe
import uvicorn
from fastapi import FastAPI, Request
from psycopg import sql
from sqlalchemy import select
from sqlalchemy.engine import make_url

from models import WebhookEvent
from recovery.app import create_app
from recovery.runtime import migrations
from recovery.runtime.clock import SystemClock
from recovery.runtime.settings import Settings
from recovery.wiring import Services, build_services

HOST = "127.0.0.1"
SECRET = "whsec_bench_4f9a1c0e7b2d48e6a3c5f1d9b7e2a0c4"
API_VERSION = "2026-10-28.endive"
NOOP_PATH, CPU_PATH, INBOX_PATH = "/_bench/noop", "/_bench/cpu", "/webhooks/stripe"
TARGET_SHARE, TARGET_P99_MS, TARGET_CONCURRENCY = 60.0, 50.0, 32
ID_ALPHABET = string.ascii_letters + string.digits


# --- Payloads: an endive ``invoice.payment_failed`` event, a few KB like Stripe's ---------------


def stripe_id(rng: random.Random, prefix: str) -> str:
    return f"{prefix}_1{''.join(rng.choices(ID_ALPHABET, k=23))}"


def line_item(rng: random.Random, invoice_id: str, subscription_id: str, start: int) -> dict:
    end = start + 30 * 86400
    return {
        "id": stripe_id(rng, "il"), "object": "line_item", "amount": 4900, "currency": "usd",
        "description": "1 × Growth (at $49.00 / month)", "discount_amounts": [],
        "discountable": True, "discounts": [], "invoice": invoice_id, "livemode": False,
        "metadata": {}, "period": {"end": end, "start": start},
        "parent": {"type": "subscription_item_details", "invoice_item_details": None,
                   "subscription_item_details": {
                       "invoice_item": None, "proration": False, "proration_details": {
                           "credited_items": None},
                       "subscription": subscription_id,
                       "subscription_item": stripe_id(rng, "si")}},
        "pretax_credit_amounts": [],
        "pricing": {"type": "price_details", "unit_amount_decimal": "4900",
                    "price_details": {"price": stripe_id(rng, "price"),
                                      "product": stripe_id(rng, "prod")}},
        "quantity": 1, "subtotal": 4900, "taxes": [],
    }


def customer_fields(rng: random.Random, n: int) -> dict:
    return {
        "customer": stripe_id(rng, "cus"), "customer_account": None,
        "customer_address": {"city": "Lisbon", "country": "PT", "line1": f"Rua Nova {n}",
                             "line2": None, "postal_code": "1200-001", "state": None},
        "customer_email": f"billing+{n}@example.com", "customer_name": f"Customer {n}",
        "customer_phone": None, "customer_shipping": None, "customer_tax_exempt": "none",
        "customer_tax_ids": [],
    }


def money_fields() -> dict:
    return {
        "amount_due": 4900, "amount_overpaid": 0, "amount_paid": 0, "amount_remaining": 4900,
        "amount_shipping": 0, "currency": "usd", "starting_balance": 0, "ending_balance": 0,
        "subtotal": 4900, "subtotal_excluding_tax": 4900, "total": 4900,
        "total_discount_amounts": [],
        "total_excluding_tax": 4900, "total_pretax_credit_amounts": [], "total_taxes": [],
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None,
                          "provider": None, "status": None},
        "payment_settings": {"default_mandate": None, "payment_method_options": None,
                             "payment_method_types": None},
    }


def invoice(rng: random.Random, n: int, now: int) -> dict:
    invoice_id, subscription_id = stripe_id(rng, "in"), stripe_id(rng, "sub")
    period_start = now - 3 * 86400
    return {
        "id": invoice_id, "object": "invoice", "account_country": "US",
        "account_name": "Acme Analytics", "attempt_count": rng.randint(1, 3), "attempted": True,
        "auto_advance": True, "billing_reason": "subscription_cycle",
        "collection_method": "charge_automatically", "created": period_start,
        "default_payment_method": None, "description": None, "discounts": [], "due_date": None,
        "effective_at": period_start, "hosted_invoice_url":
            f"https://invoice.stripe.com/i/acct_1Bench/test_{invoice_id}",
        "invoice_pdf": f"https://pay.stripe.com/invoice/acct_1Bench/test_{invoice_id}/pdf",
        "issuer": {"type": "self"}, "last_finalization_error": None, "livemode": False,
        "lines": {"object": "list", "has_more": False, "total_count": 1,
                  "url": f"/v1/invoices/{invoice_id}/lines",
                  "data": [line_item(rng, invoice_id, subscription_id, period_start)]},
        "metadata": {}, "next_payment_attempt": now + 3 * 86400, "number": f"BENCH-{n:06d}",
        "on_behalf_of": None, "parent": {"type": "subscription_details", "quote_details": None,
                                         "subscription_details": {
                                             "metadata": {}, "subscription": subscription_id}},
        "period_end": period_start, "period_start": period_start - 30 * 86400,
        "status": "open", "status_transitions": {"finalized_at": period_start + 3600,
                                                 "marked_uncollectible_at": None,
                                                 "paid_at": None, "voided_at": None},
        "webhooks_delivered_at": period_start + 3600,
        **customer_fields(rng, n), **money_fields(),
    }


def payment_failed_body(rng: random.Random, n: int, now: int) -> tuple[str, str]:
    """One event body as Stripe sends it, and its event id."""
    event_id = stripe_id(rng, "evt")
    event = {
        "id": event_id, "object": "event", "api_version": API_VERSION, "created": now,
        "data": {"object": invoice(rng, n, now), "previous_attributes": None},
        "livemode": False, "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None}, "type": "invoice.payment_failed",
    }
    return json.dumps(event, ensure_ascii=False), event_id


# --- The load: distinct events plus re-sends, signed just before sending ------------------------


@dataclass(frozen=True)
class LoadPlan:
    events: int
    duplicates: float
    concurrency: int
    warmup: int
    seed: int
    shared_pool: bool = False


@dataclass(frozen=True)
class Measurement:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    non_200: int
    flagged_duplicates: int
    server_cpu_ms: float  # CPU time of the whole server process (all threads) per request
    client_cpu_ms: float  # the load generator's own CPU time per request

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


@dataclass(frozen=True)
class LoadReport:
    noop: Measurement
    inbox: Measurement
    sent_ids: frozenset[str]
    warmup_ids: frozenset[str]
    resends: int
    body_bytes: int


def event_stream(rng: random.Random, events: int, duplicates: float, now: int) -> list[tuple]:
    """``(body, event_id)`` in send order; each re-send comes after its original, as Stripe's do."""
    originals = [payment_failed_body(rng, n, now) for n in range(events)]
    keyed = [(float(n), item) for n, item in enumerate(originals)]
    for n in rng.sample(range(events), min(events, round(events * duplicates))):
        keyed.append((n + 0.5 + rng.random() * min(events - n, 500), originals[n]))
    keyed.sort(key=lambda pair: pair[0])
    return [item for _, item in keyed]


def stripe_headers(body: str, clock: SystemClock) -> dict[str, str]:
    """Signed at send time, as Stripe signs each delivery: a re-send carries a fresh signature."""
    timestamp = int(clock.now().timestamp())
    signature = stripe.WebhookSignature.generate_signature_header(body, SECRET, timestamp=timestamp)
    return {"Content-Type": "application/json", "Stripe-Signature": signature}


def percentile(ordered: list[float], share: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    return ordered[max(0, min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1))]


async def post(client: httpx.AsyncClient, url: str, body: str, headers: dict) -> tuple:
    """Status and body of one delivery; a transport error counts as status 0, not a crash."""
    try:
        response = await client.post(url, content=body, headers=headers)
    except httpx.HTTPError:
        return 0, b""
    return response.status_code, response.content


async def drive(clients: list[httpx.AsyncClient], url: str, stream: list[tuple[str, str]]):
    """Send every body, one sender per client; latencies (s), statuses, answers, wall (s)."""
    pending, clock = iter(stream), SystemClock()
    latencies, statuses, answers = [], [], []

    async def sender(client: httpx.AsyncClient) -> None:
        for body, _event_id in pending:  # one iterator shared by all senders
            headers = stripe_headers(body, clock)
            started = time.perf_counter()
            status, answer = await post(client, url, body, headers)
            latencies.append(time.perf_counter() - started)
            statuses.append(status)
            answers.append(answer)

    started = time.perf_counter()
    await asyncio.gather(*(sender(client) for client in clients))
    return latencies, statuses, answers, time.perf_counter() - started


def summarize(sent: tuple, server_cpu: float, client_cpu: float) -> Measurement:
    latencies, statuses, answers, wall = sent
    ordered = sorted(seconds * 1000 for seconds in latencies)
    flagged = sum(1 for status, answer in zip(statuses, answers, strict=True)
                  if status == 200 and json.loads(answer).get("duplicate") is True)
    return Measurement(requests=len(ordered), seconds=wall, p50_ms=statistics.median(ordered),
                       p99_ms=percentile(ordered, 0.99),
                       non_200=sum(1 for status in statuses if status != 200),
                       flagged_duplicates=flagged,
                       server_cpu_ms=server_cpu * 1000 / len(ordered),
                       client_cpu_ms=client_cpu * 1000 / len(ordered))


async def server_cpu_seconds(client: httpx.AsyncClient) -> float:
    return (await client.get(CPU_PATH)).json()["seconds"]


async def open_clients(stack: AsyncExitStack, base_url: str, plan: LoadPlan) -> list:
    """``concurrency`` senders' clients: one connection each, or one shared pool of that size.

    One connection per client is the default because httpcore's pool hands out connections in
    O(waiting requests x connections) per request: at 32 on one pool, the load generator itself
    (not the server) became the ceiling, about a third of the rate at 8.
    """
    def client(size: int) -> httpx.AsyncClient:
        limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
        return httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60)

    if plan.shared_pool:
        return [await stack.enter_async_context(client(plan.concurrency))] * plan.concurrency
    return [await stack.enter_async_context(client(1)) for _ in range(plan.concurrency)]


async def measure(base_url: str, path: str, warmup: list, stream: list, plan: LoadPlan):
    async with AsyncExitStack() as stack:
        clients = await open_clients(stack, base_url, plan)
        await drive(clients, path, warmup)  # open the connections, warm the server's caches
        server_before, client_before = await server_cpu_seconds(clients[0]), time.process_time()
        sent = await drive(clients, path, stream)
        client_cpu = time.process_time() - client_before
        server_cpu = await server_cpu_seconds(clients[0]) - server_before
        return summarize(sent, server_cpu, client_cpu)


async def load_both(base_url: str, plan: LoadPlan) -> LoadReport:
    rng = random.Random(plan.seed)
    now = int(SystemClock().now().timestamp())
    warmup = event_stream(rng, plan.warmup, 0.0, now)
    stream = event_stream(rng, plan.events, plan.duplicates, now)
    noop = await measure(base_url, NOOP_PATH, warmup, stream, plan)
    inbox = await measure(base_url, INBOX_PATH, warmup, stream, plan)
    sent_ids = frozenset(event_id for _, event_id in stream)
    return LoadReport(noop=noop, inbox=inbox, sent_ids=sent_ids,
                      warmup_ids=frozenset(event_id for _, event_id in warmup),
                      resends=len(stream) - len(sent_ids),
                      body_bytes=round(statistics.mean(len(body.encode()) for body, _ in stream)))


def run_load(base_url: str, plan: LoadPlan) -> LoadReport:
    """Entry point of the load-generator process (uvloop when available, as the server uses)."""
    try:
        import uvloop  # noqa: PLC0415 - optional speed-up of the client's own loop
    except ImportError:
        return asyncio.run(load_both(base_url, plan))
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(load_both(base_url, plan))


def load_in_other_process(base_url: str, plan: LoadPlan) -> LoadReport:
    # spawn, not fork: the parent runs the server thread, and a forked child would inherit it.
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(run_load, base_url, plan).result()


# --- The server: the project's app plus the benchmark's no-op route, under uvicorn --------------


def add_bench_routes(app: FastAPI) -> None:
    """The ceiling (a no-op POST of the same bodies) and the server's CPU clock for the report."""

    @app.post(NOOP_PATH)
    async def noop(request: Request) -> dict:
        await request.body()
        return {"received": True}

    @app.get(CPU_PATH)
    async def cpu() -> dict:
        return {"seconds": time.process_time()}  # all threads of this (the server's) process


def wait_until_started(server: uvicorn.Server, thread: threading.Thread) -> None:
    deadline = time.perf_counter() + 30
    while not server.started:
        if not thread.is_alive() or time.perf_counter() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)


@contextmanager
def running_server(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` on a free loopback port from one thread of this process; yield its URL."""
    listener = socket.socket()
    listener.bind((HOST, 0))  # bound before uvicorn starts: no race for the port
    port = listener.getsockname()[1]
    config = uvicorn.Config(app, host=HOST, port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        wait_until_started(server, thread)
        yield f"http://{HOST}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listener.close()


# --- Databases: a fresh one per run, removed afterwards -----------------------------------------


@contextmanager
def sqlite_database() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as directory:
        yield f"sqlite:///{directory}/recovery.db"


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    admin = make_url(admin_url).set(drivername="postgresql")
    name = f"bench_ingest_{uuid.uuid4().hex[:12]}"
    libpq_url = admin.render_as_string(hide_password=False)
    with psycopg.connect(libpq_url, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(libpq_url, autocommit=True) as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def fresh_database(label: str, postgres_url: str):
    return sqlite_database() if label == "sqlite" else postgres_database(postgres_url)


# --- One database: migrate, serve, load, verify --------------------------------------------------


@dataclass(frozen=True)
class Integrity:
    distinct_sent: int
    stored_of_sent: int
    unexpected_rows: int  # rows for ids never sent, or a second row for one event

    @property
    def lost(self) -> int:
        return self.distinct_sent - self.stored_of_sent


@dataclass(frozen=True)
class DatabaseResult:
    label: str
    report: LoadReport
    integrity: Integrity


def stored_event_ids(services: Services) -> list[str]:
    with services.sessions() as session:
        return list(session.execute(select(WebhookEvent.stripe_event_id)).scalars())


def check_inbox(services: Services, report: LoadReport) -> Integrity:
    stored = stored_event_ids(services)
    expected = report.sent_ids | report.warmup_ids
    return Integrity(distinct_sent=len(report.sent_ids),
                     stored_of_sent=len(report.sent_ids.intersection(stored)),
                     unexpected_rows=len(stored) - len(expected.intersection(stored)))


def run_database(label: str, url: str, plan: LoadPlan) -> DatabaseResult:
    migrations.upgrade(url)
    settings = Settings(database_url=url, stripe_webhook_secrets=SECRET, run_worker=False,
                        log_level="WARNING")
    services = build_services(settings)
    try:
        app = create_app(services, run_worker=False)  # its lifespan adds the default account
        add_bench_routes(app)
        with running_server(app) as base_url:
            report = load_in_other_process(base_url, plan)
        return DatabaseResult(label, report, check_inbox(services, report))
    finally:
        services.close()


# --- The report ----------------------------------------------------------------------------------


COLUMNS = (("database", "<8"), ("endpoint", "<8"), ("requests", ">8"), ("events/s", ">8"),
           ("p50 ms", ">6"), ("p99 ms", ">6"), ("% no-op", ">7"), ("srv CPU", ">7"),
           ("gen CPU", ">7"), ("non-200", ">7"), ("stored/distinct", ">15"), ("target", ">6"))


def share_of_ceiling(result: DatabaseResult) -> float:
    return result.report.inbox.rate / result.report.noop.rate * 100


def integrity_failures(result: DatabaseResult) -> list[str]:
    report, integrity = result.report, result.integrity
    problems = []
    if integrity.lost:
        problems.append(f"{integrity.lost} events lost")
    if integrity.unexpected_rows:
        problems.append(f"{integrity.unexpected_rows} unexpected rows")
    for endpoint, measured in (("inbox", report.inbox), ("no-op", report.noop)):
        if measured.non_200:
            problems.append(f"{measured.non_200} {endpoint} answers were not 200")
    if report.inbox.flagged_duplicates != report.resends:
        problems.append(f"{report.inbox.flagged_duplicates} answered duplicate, "
                        f"{report.resends} re-sent")
    return problems


def target_failures(result: DatabaseResult, concurrency: int) -> list[str]:
    problems = integrity_failures(result)
    if result.label != "postgres" or concurrency != TARGET_CONCURRENCY:
        return problems
    if share_of_ceiling(result) < TARGET_SHARE:
        problems.append(f"{share_of_ceiling(result):.0f}% of the no-op ceiling "
                        f"(target {TARGET_SHARE:.0f}%)")
    if result.report.inbox.p99_ms >= TARGET_P99_MS:
        problems.append(f"p99 {result.report.inbox.p99_ms:.1f} ms "
                        f"(target under {TARGET_P99_MS:.0f} ms)")
    return problems


def table_line(cells: tuple) -> str:
    return " ".join(f"{cell:{spec}}" for cell, (_, spec) in zip(cells, COLUMNS, strict=True))


def measured_cells(m: Measurement) -> tuple:
    return (m.requests, f"{m.rate:.0f}", f"{m.p50_ms:.1f}", f"{m.p99_ms:.1f}")


def cpu_cells(m: Measurement) -> tuple:
    return (f"{m.server_cpu_ms:.2f}", f"{m.client_cpu_ms:.2f}", m.non_200)


def rows_of(result: DatabaseResult, concurrency: int) -> list[tuple]:
    noop, inbox, integrity = result.report.noop, result.report.inbox, result.integrity
    verdict = "FAIL" if target_failures(result, concurrency) else "PASS"
    return [
        (result.label, "no-op", *measured_cells(noop), "100%", *cpu_cells(noop), "-", "-"),
        (result.label, "inbox", *measured_cells(inbox), f"{share_of_ceiling(result):.0f}%",
         *cpu_cells(inbox), f"{integrity.stored_of_sent}/{integrity.distinct_sent}", verdict),
    ]


def print_report(results: list[DatabaseResult], plan: LoadPlan) -> None:
    first = results[0].report
    print(f"\nWebhook ingest: {plan.events} distinct invoice.payment_failed events "
          f"+ {first.resends} re-sent, ~{first.body_bytes} B each, concurrency {plan.concurrency}, "
          f"{plan.warmup} warm-up requests per endpoint, {os.cpu_count()} cores\n")
    print(table_line(tuple(name for name, _ in COLUMNS)))
    for result in results:
        for row in rows_of(result, plan.concurrency):
            print(table_line(row))
    print("\nsrv CPU / gen CPU: CPU ms per request used by the server process (all its threads)"
          " and by the load generator; the database server's own CPU is not included")
    print(f"target: on PostgreSQL at concurrency {TARGET_CONCURRENCY}, inbox >= "
          f"{TARGET_SHARE:.0f}% of the no-op ceiling and p99 < {TARGET_P99_MS:.0f} ms; "
          "everywhere: no event lost, none stored twice, every answer 200")
    for result in results:
        for problem in target_failures(result, plan.concurrency):
            print(f"  {result.label}: {problem}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000, help="distinct events to send")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--duplicates", type=float, default=0.1,
                        help="share of the distinct events re-sent once, 0 to 1 (0.1 = 10%%)")
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--shared-pool", action="store_true",
                        help="one httpx client with a pool of --concurrency connections "
                             "(default: one client per connection)")
    args = parser.parse_args(argv)
    args.databases = [name.strip() for name in args.databases.split(",") if name.strip()]
    unknown = set(args.databases) - {"sqlite", "postgres"}
    if unknown or not args.databases:
        parser.error(f"--databases takes sqlite and/or postgres, not {sorted(unknown)}")
    if args.events < 1 or args.concurrency < 1 or not 0 <= args.duplicates <= 1:
        parser.error("--events and --concurrency must be positive, --duplicates within 0..1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    warmup = max(args.concurrency * 4, min(500, args.events // 10))
    plan = LoadPlan(events=args.events, duplicates=args.duplicates,
                    concurrency=args.concurrency, warmup=warmup, seed=20261124,
                    shared_pool=args.shared_pool)
    results = []
    for label in args.databases:
        with fresh_database(label, args.postgres_url) as url:
            results.append(run_database(label, url, plan))
    print_report(results, plan)
    return 1 if any(integrity_failures(result) for result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
