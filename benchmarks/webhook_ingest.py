"""Webhook receiver throughput: the real app under uvicorn on loopback, SQLite and PostgreSQL.

Sends signed, realistic ``invoice.payment_failed`` bodies with distinct event ids (plus a share of
re-sent duplicates) at a fixed concurrency from a separate process, beside a no-op endpoint of
the same server (the ceiling), then checks that stored rows equal the distinct events sent.

    .venv/bin/python benchmarks/webhook_ingest.py [--events 4000] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import random
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import psycopg
import stripe
import uvicorn
from fastapi import Request
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models import WebhookEvent  # noqa: E402
from recovery import migrations  # noqa: E402
from recovery.app import create_app  # noqa: E402
from recovery.services import build_services  # noqa: E402
from recovery.settings import Settings  # noqa: E402

SECRET = "whsec_benchmark_secret_0123456789"


def invoice_failed_body(event_id: str, n: int) -> str:
    invoice = {
        "id": f"in_bench{n:08d}", "object": "invoice", "status": "open", "currency": "usd",
        "customer": f"cus_bench{n:08d}", "amount_due": 2900, "amount_remaining": 2900,
        "amount_paid": 0, "attempt_count": 1, "attempted": True, "auto_advance": True,
        "billing_reason": "subscription_cycle", "collection_method": "charge_automatically",
        "created": int(time.time()) - 3600, "next_payment_attempt": int(time.time()) + 86400,
        "hosted_invoice_url": f"https://invoice.stripe.com/i/acct_1/test_{n}",
        "parent": {"type": "subscription_details",
                   "subscription_details": {"subscription": f"sub_bench{n:08d}", "metadata": {}}},
        "lines": {"object": "list", "has_more": False, "url": "/v1/invoices/x/lines", "data": [
            {"id": f"il_bench{n:08d}", "object": "line_item", "amount": 2900, "currency": "usd",
             "description": "1 x Pro plan (at $29.00 / month)", "quantity": 1,
             "period": {"start": 1793628000, "end": 1796306400},
             "pricing": {"price_details": {"price": "price_pro", "product": "prod_pro"}}}]},
        "status_transitions": {"finalized_at": 1793628000, "paid_at": None},
        "customer_email": f"customer{n}@example.com", "metadata": {"plan": "pro"},
    }
    event = {"id": event_id, "object": "event", "api_version": "2026-10-28.endive",
             "created": int(time.time()), "livemode": False, "pending_webhooks": 1,
             "request": {"id": None, "idempotency_key": None},
             "type": "invoice.payment_failed", "data": {"object": invoice}}
    return json.dumps(event)


def build_requests(events: int, duplicates: float) -> tuple[list[tuple[str, str]], int]:
    bodies = [invoice_failed_body(f"evt_{uuid.uuid4().hex}", n) for n in range(events)]
    rng = random.Random(1)
    resent = [rng.choice(bodies) for _ in range(int(events * duplicates))]
    stream = bodies + resent
    rng.shuffle(stream)
    signed = [(b, stripe.WebhookSignature.generate_signature_header(b, SECRET)) for b in stream]
    return signed, len(bodies)


async def _send_all(url: str, requests: list[tuple[str, str]], concurrency: int):
    queue: asyncio.Queue = asyncio.Queue()
    for item in requests:
        queue.put_nowait(item)
    latencies, statuses = [], []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        async def worker():
            while not queue.empty():
                body, signature = queue.get_nowait()
                started = time.perf_counter()
                response = await client.post(url, content=body, headers={
                    "Stripe-Signature": signature, "Content-Type": "application/json"})
                latencies.append(time.perf_counter() - started)
                statuses.append(response.status_code)
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - started
    return latencies, statuses, wall


def load_process(url, requests, concurrency, results) -> None:
    results.put(asyncio.run(_send_all(url, requests, concurrency)))


def measure(url: str, requests, concurrency: int) -> dict:
    results = multiprocessing.get_context("spawn").Queue()
    process = multiprocessing.get_context("spawn").Process(
        target=load_process, args=(url, requests, concurrency, results))
    process.start()
    latencies, statuses, wall = results.get()
    process.join()
    latencies.sort()
    return {"rate": len(latencies) / wall, "p50": statistics.median(latencies) * 1000,
            "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000,
            "ok": all(s == 200 for s in statuses)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, app) -> None:
        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        while not self.server.started:
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def run_database(label: str, url: str, args) -> list[tuple]:
    migrations.upgrade(url)
    services = build_services(Settings(database_url=url, stripe_webhook_secrets=SECRET,
                                       run_worker=False, log_level="WARNING"))
    app = create_app(services, run_worker=False)

    @app.post("/_bench/noop")
    async def noop(request: Request) -> dict:
        await request.body()
        return {"received": True}

    requests, distinct = build_requests(args.events, args.duplicates)
    warmup, _ = build_requests(200, 0)
    with Server(app) as base:
        measure(f"{base}/_bench/noop", warmup, args.concurrency)
        ceiling = measure(f"{base}/_bench/noop", requests, args.concurrency)
        measure(f"{base}/webhooks/stripe", warmup, args.concurrency)
        inbox = measure(f"{base}/webhooks/stripe", requests, args.concurrency)
    with services.sessions() as session:
        stored = session.execute(select(func.count()).select_from(WebhookEvent)).scalar() - 200
    services.close()
    share = inbox["rate"] / ceiling["rate"] * 100
    return [(label, "no-op", ceiling, None, None),
            (label, "inbox", inbox, share, (stored, distinct))]


def postgres_database(admin_url: str):
    name = f"bench_ingest_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return name, admin_url.rsplit("/", 1)[0] + f"/{name}"


def drop_postgres(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def print_table(rows, concurrency: int) -> bool:
    print(f"\nWebhook ingest, concurrency {concurrency}")
    print(f"{'database':<10} {'endpoint':<8} {'events/s':>9} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'% ceiling':>9} {'stored/distinct':>16} {'target':>7}")
    lost = False
    for label, endpoint, m, share, counts in rows:
        share_text = f"{share:.0f}%" if share is not None else "-"
        count_text = f"{counts[0]}/{counts[1]}" if counts else "-"
        target = "-"
        if counts:
            lost |= counts[0] != counts[1] or not m["ok"]
            passed = counts[0] == counts[1] and m["ok"] and (
                label != "postgres" or (share >= 60 and m["p99"] < 50))
            target = "PASS" if passed else "FAIL"
        print(f"{label:<10} {endpoint:<8} {m['rate']:>9.0f} {m['p50']:>7.1f} {m['p99']:>7.1f} "
              f"{share_text:>9} {count_text:>16} {target:>7}")
    print("target: on PostgreSQL >= 60% of the no-op ceiling and p99 < 50 ms; no event lost")
    return lost


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--duplicates", type=float, default=0.1)
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    rows = []
    for label in args.databases.split(","):
        if label == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                rows += run_database("sqlite", f"sqlite:///{tmp}/bench.db", args)
        else:
            name, url = postgres_database(args.postgres_url)
            try:
                rows += run_database("postgres", url, args)
            finally:
                drop_postgres(args.postgres_url, name)
    return 1 if print_table(rows, args.concurrency) else 0


if __name__ == "__main__":
    sys.exit(main())
