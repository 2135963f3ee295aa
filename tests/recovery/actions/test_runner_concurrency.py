"""Two workers claiming from one queue charge every due retry exactly once.

Each worker has its own services and database engine, as two processes would. PostgreSQL claims
with ``FOR UPDATE SKIP LOCKED``; SQLite relies on the compare-and-set ``UPDATE`` alone.
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import respx
from sqlalchemy import String, cast, func, insert, literal, select, update

from models import (
    ActionKind,
    ActionStatus,
    CaseStatus,
    ChargeAttempt,
    RecoveryCase,
    ScheduledAction,
    WaitingFor,
)
from recovery.actions.runner import run_due_actions
from recovery.messaging.outbox import EmlOutboxChannel
from recovery.stripe_api.gateway import StripeGateway
from recovery.stripe_api.rate_limit import TokenBucket
from recovery.wiring import build_services, wire_engine
from tests.webhooks import payloads as p

STRIPE = "https://api.stripe.com"
# The race is the point here, not Stripe's pacing: with 25 requests/s per worker the PostgreSQL
# run alone would take 40 s. The rate limiter has its own tests.
DUE_RETRIES = {"postgresql": 1000, "sqlite": 200}


class FakeStripe:
    """Open invoices that ``pay`` settles; every idempotency key is counted under a lock."""

    def __init__(self) -> None:
        self.pay_keys: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._open = p.invoice_object(status="open", include_payments=False)
        self._paid = p.invoice_object(status="paid", include_payments=False)
        self.router = respx.Router(assert_all_mocked=True)
        self.router.get(url__regex=rf"{STRIPE}/v1/invoices/(?P<inv>in_\w+)$").mock(
            side_effect=self._invoice)
        self.router.post(url__regex=rf"{STRIPE}/v1/invoices/(?P<inv>in_\w+)/pay$").mock(
            side_effect=self._pay)
        # The receipt a recovery sends reads the customer and the card it names.
        self.router.get(url__regex=rf"{STRIPE}/v1/customers/(?P<cus>cus_\w+)$").mock(
            side_effect=lambda request, cus: httpx.Response(
                200, json=p.customer_object(customer_id=cus)))
        self.router.get(url__regex=rf"{STRIPE}/v1/payment_methods/(?P<pm>pm_\w+)$").mock(
            side_effect=lambda request, pm: httpx.Response(
                200, json=p.payment_method_object(payment_method_id=pm)))

    def _invoice(self, request: httpx.Request, inv: str) -> httpx.Response:
        return httpx.Response(200, json={**self._open, "id": inv})

    def _pay(self, request: httpx.Request, inv: str) -> httpx.Response:
        with self._lock:
            self.pay_keys[request.headers["Idempotency-Key"]] += 1
        return httpx.Response(200, json={**self._paid, "id": inv})

    def gateway(self) -> StripeGateway:
        return StripeGateway("sk_test_concurrency", api_base=STRIPE,
                             rate_limiter=TokenBucket(None),
                             transport=httpx.MockTransport(self.router.handler))


def case_row(n: int, now) -> dict:
    return dict(account_id="acct_default", stripe_invoice_id=f"in_race{n:06d}", amount_due=2500,
                currency="usd", status=CaseStatus.open.value, waiting_for=WaitingFor.retry.value,
                card_fingerprint=f"fp_race{n:06d}", card_brand="visa",
                payment_method_id=f"pm_race{n:06d}", first_failed_at=now,
                created_at=now, updated_at=now)


def retry_row(case_id: int, now) -> dict:
    return dict(account_id="acct_default", case_id=case_id, kind=ActionKind.retry.value,
                due_at=now, status=ActionStatus.scheduled.value, reason="retry 1 of 5",
                created_at=now)


def seed_due_retries(services, count: int) -> None:
    """Open cases, each with its own invoice and card, and one retry due now."""
    now = services.clock.now()
    with services.sessions() as session:
        case_ids = session.scalars(insert(RecoveryCase).returning(RecoveryCase.id),
                                   [case_row(n, now) for n in range(count)]).all()
        session.execute(insert(ScheduledAction), [retry_row(case_id, now) for case_id in case_ids])
        # The key the engine gives every action it schedules: taken from the row's own id.
        session.execute(update(ScheduledAction).values(
            idempotency_key=literal("recovery:") + cast(ScheduledAction.id, String)))
        session.commit()


def worker_services(settings, clock, stripe: FakeStripe, outbox):
    built = build_services(settings, clock)
    built.engine.gateway.close()  # replaced: this one would pace at Stripe's test-mode rate
    wire_engine(built, stripe.gateway(), EmlOutboxChannel(outbox))
    return built


def due_left(built, clock) -> int:
    with built.sessions() as session:
        return session.scalar(select(func.count()).select_from(ScheduledAction).where(
            ScheduledAction.status == ActionStatus.scheduled.value,
            ScheduledAction.due_at <= clock.now()))


def drain(built, clock, worker_id: str, start: threading.Barrier) -> int:
    """Run due actions until none is left unclaimed; return how many this worker finished.

    An empty claim alone is not the end: on PostgreSQL it can mean the other worker's claim holds
    the last due rows' locks for an instant (``SKIP LOCKED`` passes over them).
    """
    start.wait()
    finished = 0
    while True:
        result = run_due_actions(built.sessions, clock, built.steps, worker_id=worker_id,
                                 batch_size=20)
        assert result.deferred == result.paused == 0
        finished += result.done
        if not result.total and not due_left(built, clock):
            return finished


def run_two_workers(settings, clock, stripe: FakeStripe, outbox) -> dict[str, int]:
    workers = {f"worker-{n}": worker_services(settings, clock, stripe, outbox) for n in (1, 2)}
    start = threading.Barrier(len(workers))
    try:
        with ThreadPoolExecutor(len(workers)) as pool:
            futures = {name: pool.submit(drain, built, clock, name, start)
                       for name, built in workers.items()}
            return {name: future.result() for name, future in futures.items()}
    finally:
        for built in workers.values():
            built.close()


def retry_actions(services) -> list[ScheduledAction]:
    with services.sessions() as session:
        return list(session.scalars(
            select(ScheduledAction).where(ScheduledAction.kind == ActionKind.retry.value)))


def case_statuses(services) -> Counter[str]:
    with services.sessions() as session:
        return Counter(session.scalars(select(RecoveryCase.status)))


def engine_attempts_per_case(services) -> Counter[int]:
    with services.sessions() as session:
        return Counter(session.scalars(
            select(ChargeAttempt.case_id).where(ChargeAttempt.by == "engine")))


def test_two_workers_charge_each_due_retry_exactly_once(settings, clock, services, tmp_path):
    count = DUE_RETRIES[services.db_engine.dialect.name]
    seed_due_retries(services, count)
    stripe = FakeStripe()

    finished = run_two_workers(settings, clock, stripe, tmp_path / "outbox")

    retries = retry_actions(services)
    assert set(stripe.pay_keys) == {f"recovery:{action.id}" for action in retries}
    assert sum(stripe.pay_keys.values()) == count  # one pay call per key, none repeated
    assert Counter(action.status for action in retries) == {ActionStatus.done.value: count}
    assert all(action.result["paid"] for action in retries)
    assert case_statuses(services) == {CaseStatus.recovered.value: count}
    attempts = engine_attempts_per_case(services)
    assert len(attempts) == count and set(attempts.values()) == {1}
    claimed_by = Counter(action.claimed_by for action in retries)
    assert set(claimed_by) == set(finished) and min(claimed_by.values()) > 0
    # Every recovery also queued a "payment recovered" notice, which the same workers ran.
    assert sum(finished.values()) == 2 * count

