"""Webhook receiver throughput under wrk: the real server process, per database, against a no-op.

Owns measurement only: it makes its own database, signed bodies, server process and fake Stripe,
and changes no project code (its ``/_bench/noop`` route is added to the benchmark server's app
instance, not to the project).

    .venv/bin/python benchmarks/webhook_ingest.py [--seconds 10] [--concurrency 32]
        [--duplicates 0.1] [--databases sqlite,postgres] [--repeats 3] [--no-worker]
        [--postgres-url postgresql://postgres@127.0.0.1:5432/postgres]

Three processes share the machine: wrk (Debian's package, which ``make bench-tools`` installs),
the server, and PostgreSQL. The server is this file run with ``--serve``: the application
``recovery serve`` builds (its worker included, unless ``--no-worker``) plus ``POST /_bench/noop``
(reads the body, answers a small JSON: the ceiling), under uvicorn as ``recovery serve`` runs it.
The worker talks to a fake Stripe on loopback (empty lists, and an open invoice for any one).

Before each run, distinct signed ``invoice.payment_failed`` bodies (plus a share re-sent once,
after their original) are written one file per wrk thread; wrk's Lua script cycles through its
thread's file, counts the answers (new, duplicate, not 200) and prints its latency percentiles
as JSON. The no-op is measured first, then the receiver, each after a warm-up, on the same server.
Afterwards the worker must drain the inbox: every event answered as new must be stored (none
lost), nothing may be stored that was not sent, and every stored event must be processed. The
exit code is 1 only when that check fails; the performance target is reported, never enforced.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import statistics
import string
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import psycopg
import stripe
from cryptography.fernet import Fernet
from fastapi import Request
from psycopg import sql
from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import make_url

from models import WebhookEvent
from recovery.runtime import migrations
from recovery.runtime.db import normalize_url

HOST = "127.0.0.1"
SECRET = "whsec_bench_4f9a1c0e7b2d48e6a3c5f1d9b7e2a0c4"
API_VERSION = "2026-10-28.endive"
NOOP_PATH, INBOX_PATH = "/_bench/noop", "/webhooks/stripe"
TARGET_SHARE, TARGET_P99_RATIO = 60.0, 1.5
ID_ALPHABET = string.ascii_letters + string.digits
WAITING = ("pending", "processing", "needs_fetch", "fetching")


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


# --- Request files: signed bodies for wrk, one file per wrk thread ------------------------------


@dataclass(frozen=True)
class Delivery:
    event_id: str
    line: str  # "<Stripe-Signature>\t<body>", as the Lua script reads it
    resend: bool


def signed_line(body: str, timestamp: int) -> str:
    signature = stripe.WebhookSignature.generate_signature_header(body, SECRET, timestamp=timestamp)
    return f"{signature}\t{body}"


def thread_deliveries(rng: random.Random, first: int, events: int, duplicates: float,
                      timestamp: int) -> list[Delivery]:
    """One wrk thread's deliveries in send order; each re-send comes after its original (as
    Stripe's do), signed anew."""
    originals = []
    for n in range(first, first + events):
        body, event_id = payment_failed_body(rng, n, timestamp)
        originals.append((event_id, body))
    keyed = [(float(n), Delivery(event_id, signed_line(body, timestamp), False))
             for n, (event_id, body) in enumerate(originals)]
    for n in rng.sample(range(events), min(events, round(events * duplicates))):
        event_id, body = originals[n]
        later = n + 0.5 + rng.random() * min(events - n, 500)
        keyed.append((later, Delivery(event_id, signed_line(body, timestamp + 1), True)))
    keyed.sort(key=lambda pair: pair[0])
    return [delivery for _, delivery in keyed]


def write_request_files(directory: Path, phase: str, plan: LoadPlan, events: int, first: int,
                        rng: random.Random) -> list[list[Delivery]]:
    """``<phase>-<thread>.txt`` per wrk thread; returns each thread's deliveries in order."""
    timestamp = int(time.time())  # signed now: the server accepts signatures up to 600 s old
    per_thread = -(-events // plan.threads)
    files = []
    for thread in range(plan.threads):
        deliveries = thread_deliveries(rng, first + thread * per_thread, per_thread,
                                       plan.duplicates, timestamp)
        lines = "".join(delivery.line + "\n" for delivery in deliveries)
        (directory / f"{phase}-{thread}.txt").write_text(lines, encoding="utf-8")
        files.append(deliveries)
    return files


# --- wrk: the Lua script and what it reports ------------------------------------------------------

# Each thread reads its own file of pre-signed requests, hands them out in order (wrapping round
# as re-sends if the run outlasts them) and counts the answers; done() prints one JSON line.
LUA_SCRIPT = r"""
local threads, next_id = {}, 0

function setup(thread)
  thread:set("id", next_id)
  table.insert(threads, thread)
  next_id = next_id + 1
end

function init(args)
  requests, issued, answered, new, duplicates, failed = {}, 0, 0, 0, 0, 0
  local file = assert(io.open(args[1] .. id .. ".txt", "rb"))
  for line in file:lines() do
    local tab = line:find("\t", 1, true)
    requests[#requests + 1] = wrk.format("POST", wrk.path, {
      ["Content-Type"] = "application/json",
      ["Stripe-Signature"] = line:sub(1, tab - 1)}, line:sub(tab + 1))
  end
  file:close()
end

function request()
  issued = issued + 1
  return requests[(issued - 1) % #requests + 1]
end

function response(status, headers, body)
  answered = answered + 1
  if status ~= 200 then
    failed = failed + 1
  elseif body:find('"duplicate":true', 1, true) then
    duplicates = duplicates + 1
  else
    new = new + 1
  end
end

function done(summary, latency, _requests)
  local parts = {}
  for _, thread in ipairs(threads) do
    parts[#parts + 1] = string.format(
      '{"issued":%d,"answered":%d,"new":%d,"duplicates":%d,"failed":%d}',
      thread:get("issued"), thread:get("answered"), thread:get("new"),
      thread:get("duplicates"), thread:get("failed"))
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"duration_us":%d,"requests":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"socket_errors":%d,"threads":[%s]}\n',
    summary.duration, summary.requests, latency:percentile(50), latency:percentile(99),
    latency.max, e.connect + e.read + e.write + e.timeout, table.concat(parts, ",")))
end
"""


@dataclass(frozen=True)
class WrkThread:
    issued: int
    answered: int
    new: int
    duplicates: int
    failed: int


@dataclass(frozen=True)
class WrkRun:
    seconds: float
    requests: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    socket_errors: int
    threads: tuple[WrkThread, ...]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def total(self, field: str) -> int:
        return sum(getattr(thread, field) for thread in self.threads)


def parse_wrk(output: str) -> WrkRun:
    line = next((line for line in output.splitlines() if line.startswith("WRK_RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{output}")
    found = json.loads(line.removeprefix("WRK_RESULT "))
    return WrkRun(seconds=found["duration_us"] / 1e6, requests=found["requests"],
                  p50_ms=found["p50_us"] / 1000, p99_ms=found["p99_us"] / 1000,
                  max_ms=found["max_us"] / 1000, socket_errors=found["socket_errors"],
                  threads=tuple(WrkThread(**thread) for thread in found["threads"]))


def run_wrk(url: str, directory: Path, phase: str, plan: LoadPlan, seconds: float) -> WrkRun:
    script = directory / "deliveries.lua"
    if not script.exists():
        script.write_text(LUA_SCRIPT, encoding="utf-8")
    command = ["wrk", f"-t{plan.threads}", f"-c{plan.concurrency}", f"-d{seconds:g}s",
               "--timeout", "30s", "-s", str(script), url, "--", f"{directory}/{phase}-"]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 60)
    return parse_wrk(done.stdout)


# --- A fake Stripe for the worker's reads: every read answers an empty list ----------------------


class EmptyStripe(BaseHTTPRequestHandler):
    """``invoice_payments.list`` finds nothing, so a failure is planned without decline details;
    a read or update of one object (``/v1/invoices/in_…``) answers an open invoice. HTTP/1.1,
    so the worker's client keeps its connections open as it would with Stripe."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle's algorithm on a kept-alive connection,
    # the body would wait for the client's delayed ACK (40 ms a call).
    disable_nagle_algorithm = True

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        path = self.path.split("?")[0]
        last = path.rstrip("/").rsplit("/", 1)[-1]
        one_object = any(character.isdigit() for character in last)  # an id, not a list
        found = ({"id": last, "object": "invoice", "status": "open", "auto_advance": False,
                  "amount_due": 4900, "amount_remaining": 4900, "currency": "usd"}
                 if one_object else {"object": "list", "data": [], "has_more": False,
                                     "url": path})
        body = json.dumps(found).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *_args) -> None:
        pass


@contextmanager
def empty_stripe() -> Iterator[str]:
    server = ThreadingHTTPServer((HOST, 0), EmptyStripe)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{HOST}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# --- The server process: ``recovery serve``'s application plus the no-op route -----------------


def serve_with_noop() -> None:
    """Entry point of the server process (``--serve``); settings come from the environment."""
    from recovery.cli.common import load_settings  # noqa: PLC0415 - the server process's own
    from recovery.cli.serve import build_web_app, run_web_app  # noqa: PLC0415

    settings = load_settings()
    app = build_web_app(settings, worker=None)

    @app.post(NOOP_PATH)
    async def noop(request: Request) -> dict:
        await request.body()
        return {"received": True}

    run_web_app(app, settings)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def server_environment(url: str, port: int, stripe_url: str, directory: Path,
                       worker: bool) -> dict[str, str]:
    return os.environ | {
        "RECOVERY_DATABASE_URL": url, "RECOVERY_HOST": HOST, "RECOVERY_PORT": str(port),
        "RECOVERY_STRIPE_WEBHOOK_SECRETS": SECRET, "RECOVERY_WEBHOOK_TOLERANCE_SECONDS": "600",
        "RECOVERY_STRIPE_API_KEY": "sk_test_bench_receiver", "RECOVERY_STRIPE_API_BASE": stripe_url,
        "RECOVERY_STRIPE_RATE_LIMIT_PER_SECOND": "100000",
        "RECOVERY_SECRETS_KEY": Fernet.generate_key().decode(),
        "RECOVERY_OUTBOX_DIR": str(directory / "outbox"),
        "RECOVERY_RUN_WORKER": "true" if worker else "false", "RECOVERY_LOG_LEVEL": "WARNING",
    }


@dataclass
class ServerProcess:
    process: subprocess.Popen
    base_url: str

    def cpu_seconds(self) -> float:
        """CPU time of the server process and its children (the worker), from /proc."""
        pids = [self.process.pid, *children_of(self.process.pid)]
        return sum(process_cpu_seconds(pid) for pid in pids)

    def stop(self) -> float:
        """SIGTERM, then wait; returns the seconds it took to exit (killed after 60 s)."""
        started = time.perf_counter()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        return time.perf_counter() - started


def process_cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError):
            continue
    return found


@contextmanager
def running_server(environment: dict[str, str], port: int) -> Iterator[ServerProcess]:
    command = [sys.executable, str(Path(__file__).resolve()), "--serve"]
    process = subprocess.Popen(command, env=environment)
    server = ServerProcess(process, f"http://{HOST}:{port}")
    try:
        wait_until_answering(server)
        yield server
    finally:
        if process.poll() is None:
            server.stop()


def wait_until_answering(server: ServerProcess) -> None:
    deadline = time.perf_counter() + 60
    while time.perf_counter() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError("the server exited before answering")
        try:
            httpx.get(f"{server.base_url}/healthz", timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("the server did not answer within 60 s")


# --- One database: migrate, serve, load, drain, verify -------------------------------------------


@dataclass(frozen=True)
class LoadPlan:
    seconds: float
    warmup_seconds: float
    concurrency: int
    threads: int
    duplicates: float
    max_rate: int  # distinct bodies written per second of run: more than the server can take
    worker: bool
    drain_timeout: float

    @property
    def events(self) -> int:
        return round(self.seconds * self.max_rate)

    @property
    def warmup_events(self) -> int:
        return round(self.warmup_seconds * self.max_rate)


@dataclass(frozen=True)
class Measurement:
    run: WrkRun
    server_cpu_ms: float  # CPU ms per request of the server process and its worker child


@dataclass(frozen=True)
class Integrity:
    issued_distinct: int  # distinct events whose delivery wrk sent to the receiver
    answered_new: int  # deliveries answered 200 as newly stored
    unanswered: int  # deliveries still in flight when wrk stopped (Stripe would re-send)
    stored: int  # inbox rows of events sent
    unexpected_rows: int  # rows for events never sent
    non_200: int
    statuses: dict[str, int]  # inbox rows by status once the worker drained it (or gave up)

    @property
    def lost(self) -> int:
        return max(0, self.answered_new - self.stored)

    @property
    def unaccounted(self) -> int:
        """Rows beyond what was answered as new plus what was still in flight."""
        return max(0, self.stored - self.answered_new - self.unanswered)

    @property
    def handled(self) -> int:
        return self.statuses.get("processed", 0) + self.statuses.get("ignored", 0)

    @property
    def waiting(self) -> int:
        return sum(self.statuses.get(status, 0) for status in WAITING)


@dataclass(frozen=True)
class RunResult:
    noop: Measurement
    inbox: Measurement
    integrity: Integrity
    drain_seconds: float | None
    stop_seconds: float
    body_bytes: int


def issued_ids(files: list[list[Delivery]], run: WrkRun) -> set[str]:
    """The events whose delivery wrk sent: each thread's first ``issued`` lines (wrapping)."""
    ids = set()
    for deliveries, thread in zip(files, run.threads, strict=True):
        ids.update(delivery.event_id for delivery in deliveries[:thread.issued])
    return ids


def measure(server: ServerProcess, directory: Path, path: str, plan: LoadPlan) -> tuple:
    """Warm up, then the measured run; returns both wrk runs and the measurement."""
    warmup = run_wrk(server.base_url + path, directory, "warmup", plan, plan.warmup_seconds)
    cpu_before = server.cpu_seconds()
    run = run_wrk(server.base_url + path, directory, "measured", plan, plan.seconds)
    cpu_ms = (server.cpu_seconds() - cpu_before) * 1000 / max(run.requests, 1)
    return warmup, Measurement(run, cpu_ms)


def inbox_statuses(url: str) -> tuple[dict[str, int], set[str]]:
    engine = create_engine(normalize_url(url))
    try:
        with engine.connect() as connection:
            counts = dict(connection.execute(
                select(WebhookEvent.status, func.count()).group_by(WebhookEvent.status)).all())
            ids = set(connection.execute(select(WebhookEvent.stripe_event_id)).scalars())
        return {str(status): count for status, count in counts.items()}, ids
    finally:
        engine.dispose()


def drain(url: str, timeout: float) -> float:
    """Seconds until the worker left no row waiting (``timeout`` if it never did)."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        counts, _ids = inbox_statuses(url)
        if not any(counts.get(status) for status in WAITING):
            break
        time.sleep(0.5)
    return time.perf_counter() - started


def check(url: str, files: dict[str, list], runs: dict[str, WrkRun]) -> Integrity:
    statuses, stored_ids = inbox_statuses(url)
    issued = issued_ids(files["warmup"], runs["warmup"]) | issued_ids(files["measured"],
                                                                       runs["measured"])
    return Integrity(
        issued_distinct=len(issued),
        answered_new=sum(run.total("new") for run in runs.values()),
        unanswered=sum(run.total("issued") - run.total("answered") for run in runs.values()),
        stored=len(stored_ids & issued), unexpected_rows=len(stored_ids - issued),
        non_200=sum(run.total("failed") + run.socket_errors for run in runs.values()),
        statuses=statuses)


def run_once(url: str, plan: LoadPlan, stripe_url: str, seed: int) -> RunResult:
    migrations.upgrade(url)
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        directory, port = Path(tmp), free_port()
        environment = server_environment(url, port, stripe_url, directory, plan.worker)
        with running_server(environment, port) as server:
            files = {"warmup": write_request_files(directory, "warmup", plan,
                                                   plan.warmup_events, 0, rng),
                     "measured": write_request_files(directory, "measured", plan, plan.events,
                                                     plan.warmup_events * 2, rng)}
            _, noop = measure(server, directory, NOOP_PATH, plan)
            inbox_warmup, inbox = measure(server, directory, INBOX_PATH, plan)
            drain_seconds = drain(url, plan.drain_timeout) if plan.worker else None
            stop_seconds = server.stop()
        integrity = check(url, files, {"warmup": inbox_warmup, "measured": inbox.run})
        sizes = [len(delivery.line.split("\t", 1)[1].encode()) for delivery in files["measured"][0]]
    return RunResult(noop, inbox, integrity, drain_seconds, stop_seconds,
                     round(statistics.mean(sizes)))


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


# --- The report ----------------------------------------------------------------------------------


COLUMNS = (("database", "<8"), ("endpoint", "<8"), ("events/s", ">8"), ("p50 ms", ">6"),
           ("p99 ms", ">6"), ("% no-op", ">7"), ("p99 x", ">5"), ("CPU ms", ">6"),
           ("non-200", ">7"), ("stored/new", ">13"), ("processed", ">9"), ("drain s", ">7"),
           ("stop s", ">6"), ("target", ">6"))


def median(values: list[float]) -> float:
    return statistics.median(values)


@dataclass(frozen=True)
class Summary:
    """Medians over the repeats of one database; integrity summed over all of them."""

    label: str
    runs: list[RunResult]

    def rate(self, endpoint: str) -> float:
        return median([getattr(run, endpoint).run.rate for run in self.runs])

    def latency(self, endpoint: str, field: str) -> float:
        return median([getattr(getattr(run, endpoint).run, field) for run in self.runs])

    def cpu(self, endpoint: str) -> float:
        return median([getattr(run, endpoint).server_cpu_ms for run in self.runs])

    @property
    def share(self) -> float:
        return median([run.inbox.run.rate / run.noop.run.rate * 100 for run in self.runs])

    @property
    def p99_ratio(self) -> float:
        return median([run.inbox.run.p99_ms / run.noop.run.p99_ms for run in self.runs])


def integrity_failures(run: RunResult, worker: bool) -> list[str]:
    integrity, problems = run.integrity, []
    if integrity.lost:
        problems.append(f"{integrity.lost} events answered as stored are not in the inbox")
    if integrity.unexpected_rows or integrity.unaccounted:
        problems.append(f"{integrity.unexpected_rows + integrity.unaccounted} unexpected rows")
    if integrity.non_200:
        problems.append(f"{integrity.non_200} answers were not 200")
    if run.noop.run.total("failed") or run.noop.run.socket_errors:
        problems.append("the no-op endpoint answered other than 200")
    if worker and integrity.handled != integrity.stored:
        problems.append(f"{integrity.handled} of {integrity.stored} stored events processed "
                        f"({integrity.waiting} still waiting, statuses {integrity.statuses})")
    return problems


def target_failures(summary: Summary, worker: bool) -> list[str]:
    problems = [problem for run in summary.runs for problem in integrity_failures(run, worker)]
    if summary.share < TARGET_SHARE:
        problems.append(f"{summary.share:.0f}% of the no-op's rate (target {TARGET_SHARE:.0f}%)")
    if summary.p99_ratio > TARGET_P99_RATIO:
        problems.append(f"p99 {summary.p99_ratio:.2f}x the no-op's (target at most "
                        f"{TARGET_P99_RATIO}x)")
    return problems


def table_line(cells: tuple) -> str:
    return " ".join(f"{cell:{spec}}" for cell, (_, spec) in zip(cells, COLUMNS, strict=True))


def rows_of(summary: Summary, worker: bool) -> list[tuple]:
    def measured(endpoint: str) -> tuple:
        return (f"{summary.rate(endpoint):.0f}", f"{summary.latency(endpoint, 'p50_ms'):.1f}",
                f"{summary.latency(endpoint, 'p99_ms'):.1f}")

    runs = summary.runs
    stored = sum(run.integrity.stored for run in runs)
    new = sum(run.integrity.answered_new for run in runs)
    handled = f"{sum(run.integrity.handled for run in runs)}" if worker else "-"
    drained = f"{median([run.drain_seconds for run in runs]):.1f}" if worker else "-"
    non_200 = sum(run.integrity.non_200 for run in runs)
    verdict = "FAIL" if target_failures(summary, worker) else "PASS"
    return [
        (summary.label, "no-op", *measured("noop"), "100%", "1.00", f"{summary.cpu('noop'):.2f}",
         sum(run.noop.run.total("failed") for run in runs), "-", "-", "-", "-", "-"),
        (summary.label, "inbox", *measured("inbox"), f"{summary.share:.0f}%",
         f"{summary.p99_ratio:.2f}", f"{summary.cpu('inbox'):.2f}", non_200, f"{stored}/{new}",
         handled, drained, f"{median([run.stop_seconds for run in runs]):.1f}", verdict),
    ]


def print_report(summaries: list[Summary], plan: LoadPlan, repeats: int) -> None:
    first = summaries[0].runs[0]
    print(f"\nWebhook ingest under wrk: distinct signed invoice.payment_failed events "
          f"(~{first.body_bytes} B) + {plan.duplicates:.0%} re-sent, {plan.threads} wrk threads, "
          f"concurrency {plan.concurrency}, {plan.seconds:g} s per endpoint after "
          f"{plan.warmup_seconds:g} s of warm-up, worker {'on' if plan.worker else 'off'}, "
          f"median of {repeats} run(s), {os.cpu_count()} cores\n")
    print(table_line(tuple(name for name, _ in COLUMNS)))
    for summary in summaries:
        for row in rows_of(summary, plan.worker):
            print(table_line(row))
    print("\np99 x: the receiver's p99 over the no-op's. CPU ms: per request, the server process "
          "and its worker child (PostgreSQL and wrk not included). stored/new: inbox rows of "
          "events sent / answers 'stored' (all runs; rows may exceed answers by the deliveries "
          "still in flight when wrk stopped). processed: rows the worker handled. drain s: from "
          "the end of the load until no row waits. stop s: SIGTERM to exit.")
    print(f"target: receiver >= {TARGET_SHARE:.0f}% of the no-op's rate, p99 <= "
          f"{TARGET_P99_RATIO}x the no-op's, none lost, every stored event processed")
    for summary in summaries:
        for problem in target_failures(summary, plan.worker):
            print(f"  {summary.label}: {problem}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10, help="measured seconds per endpoint")
    parser.add_argument("--warmup-seconds", type=float, default=2)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--duplicates", type=float, default=0.1,
                        help="share of the distinct events re-sent once, 0 to 1 (0.1 = 10%%)")
    parser.add_argument("--max-rate", type=int, default=4000,
                        help="distinct bodies written per second of run (beyond: re-sends)")
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--no-worker", dest="worker", action="store_false",
                        help="serve without the worker (nothing drains the inbox)")
    parser.add_argument("--drain-timeout", type=float, default=300)
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.databases = [name.strip() for name in args.databases.split(",") if name.strip()]
    unknown = set(args.databases) - {"sqlite", "postgres"}
    if unknown or not args.databases:
        parser.error(f"--databases takes sqlite and/or postgres, not {sorted(unknown)}")
    if min(args.seconds, args.concurrency, args.threads, args.repeats) <= 0 or not (
            0 <= args.duplicates <= 1):
        parser.error("--seconds, --concurrency, --threads and --repeats must be positive, "
                     "--duplicates within 0..1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve:
        serve_with_noop()
        return 0
    if shutil.which("wrk") is None:
        print("wrk is not installed: run `make bench-tools` (Debian's wrk package)",
              file=sys.stderr)
        return 2
    plan = LoadPlan(seconds=args.seconds, warmup_seconds=args.warmup_seconds,
                    concurrency=args.concurrency, threads=args.threads,
                    duplicates=args.duplicates, max_rate=args.max_rate, worker=args.worker,
                    drain_timeout=args.drain_timeout)
    summaries = []
    with ExitStack() as stack:
        stripe_url = stack.enter_context(empty_stripe())
        for label in args.databases:
            runs = []
            for repeat in range(args.repeats):
                with fresh_database(label, args.postgres_url) as url:
                    runs.append(run_once(url, plan, stripe_url, seed=20261124 + repeat))
            summaries.append(Summary(label, runs))
    print_report(summaries, plan, args.repeats)
    failed = any(integrity_failures(run, plan.worker) for s in summaries for run in s.runs)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
