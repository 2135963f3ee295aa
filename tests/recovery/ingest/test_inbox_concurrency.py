"""Two workers ingesting one inbox in batches: every event is handled once, every case is opened
once and planned once, even when a failure and its duplicate land in the two workers' batches at
the same moment (the loser's batch rolls back and its events are handled again alone).
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import respx
from fastapi.testclient import TestClient
from sqlalchemy import and_, func, or_, select

from models import (
    ActionKind,
    ActionStatus,
    ChargeAttempt,
    InboxStatus,
    RecoveryCase,
    ScheduledAction,
    WebhookEvent,
)
from recovery.app import create_app
from recovery.ingest.inbox import ingest_once
from recovery.messaging.outbox import EmlOutboxChannel
from recovery.stripe_api.gateway import StripeGateway
from recovery.stripe_api.rate_limit import TokenBucket
from recovery.wiring import build_services, wire_engine
from tests.conftest import WEBHOOK_SECRET
from tests.recovery.stripe_stub import Decline, StripeStub
from tests.webhooks import payloads as p
from tests.webhooks.signing import signed_request

INVOICES = 40
BATCH = 7


def stub_gateway(stub: StripeStub) -> StripeGateway:
    router = respx.Router(assert_all_mocked=True)
    stub.install(router)
    return StripeGateway("sk_test_ingest_race", rate_limiter=TokenBucket(None),
                         transport=httpx.MockTransport(router.handler))


def worker(settings, clock, stub: StripeStub, outbox):
    built = build_services(settings, clock)
    built.engine.gateway.close()
    wire_engine(built, stub_gateway(stub), EmlOutboxChannel(outbox))
    return built


def due_or_claimed(built, clock) -> int:
    """Rows a worker may still take now (pending and due) or is taking (processing)."""
    with built.sessions() as session:
        return session.scalar(select(func.count()).select_from(WebhookEvent).where(or_(
            WebhookEvent.status == InboxStatus.processing.value,
            and_(WebhookEvent.status == InboxStatus.pending.value,
                 or_(WebhookEvent.next_attempt_at.is_(None),
                     WebhookEvent.next_attempt_at <= clock.now())))))


def drain(built, clock, start: threading.Barrier | None = None) -> Counter:
    if start is not None:
        start.wait()
    outcomes: Counter = Counter()
    while True:
        result = ingest_once(built.sessions, clock, built.handler, batch_size=BATCH,
                             batches=built.engine)
        outcomes.update(processed=result.processed, retried=result.retried,
                        failed=result.failed)
        if not result.total and not due_or_claimed(built, clock):
            return outcomes


def test_two_workers_ingest_each_event_once_and_plan_each_case_once(
        services, settings, clock, tmp_path):
    stub = StripeStub()
    stub.declines.update({f"in_race{n:03d}": Decline("insufficient_funds")
                          for n in range(INVOICES)})
    with TestClient(create_app(services, run_worker=False)) as client:
        # Each failure arrives twice (Stripe retries deliveries under new event ids), the
        # duplicates one batch after the originals: the two workers' first claims then hold
        # the same invoices and race to open their cases.
        for first in range(0, INVOICES, BATCH):
            for _copy in range(2):
                for n in range(first, min(first + BATCH, INVOICES)):
                    event = p.invoice_event("invoice.payment_failed", p.LATEST,
                                            invoice_id=f"in_race{n:03d}",
                                            customer=f"cus_race{n:03d}", created=clock.now())
                    body, headers = signed_request(event, WEBHOOK_SECRET, clock.now())
                    assert client.post("/webhooks/stripe", content=body,
                                       headers=headers).status_code == 200

    workers = [worker(settings, clock, stub, tmp_path / "outbox") for _ in range(2)]
    start = threading.Barrier(2)
    try:
        with ThreadPoolExecutor(2) as pool:
            totals = [f.result() for f in [pool.submit(drain, w, clock, start) for w in workers]]
        # An event whose batch lost a race and then lost again alone waits out its backoff.
        clock.advance(timedelta(minutes=5))
        totals.append(drain(workers[0], clock))
    finally:
        for built in workers:
            built.close()

    with services.sessions() as session:
        statuses = Counter(session.scalars(select(WebhookEvent.status)))
        case_count = session.scalar(select(func.count()).select_from(RecoveryCase))
        attempts = Counter(session.scalars(select(ChargeAttempt.case_id)))
        retries = Counter(session.scalars(select(ScheduledAction.case_id).where(
            ScheduledAction.kind == ActionKind.retry.value,
            ScheduledAction.status == ActionStatus.scheduled.value)))
        notices = Counter((case_id, params["notice"]) for case_id, params in session.execute(
            select(ScheduledAction.case_id, ScheduledAction.params).where(
                ScheduledAction.kind == ActionKind.notify.value)))
    assert statuses == {InboxStatus.processed.value: 2 * INVOICES}
    assert sum(t["processed"] for t in totals) == 2 * INVOICES
    assert case_count == INVOICES
    assert set(attempts.values()) == {1} and len(attempts) == INVOICES
    assert set(retries.values()) == {1} and len(retries) == INVOICES
    # Each step of the default message sequence once per case: the failure notice and the
    # day-7 reminder.
    assert set(notices.values()) == {1} and len(notices) == 2 * INVOICES
    assert Counter(key for _case, key in notices)["payment_failed"] == INVOICES
