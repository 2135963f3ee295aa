"""One live step (a retry or the end of dunning, waiting or running) per case: the database
refuses a second, planning never writes one beside a running step, and two workers that handle
two card-change events of one case at the same moment leave exactly one.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.exc import IntegrityError

from models import ActionKind, ActionStatus, CaseStatus, RecoveryCase, ScheduledAction, WaitingFor
from recovery.actions import runner as actions
from recovery.engine import case_store as cases
from recovery.engine.case_store import ActionDraft
from recovery.ingest.inbox import ingest_once
from recovery.messaging.outbox import EmlOutboxChannel
from recovery.runtime.claims import Claim
from recovery.runtime.db import transaction
from recovery.wiring import build_services, wire_engine
from recovery.worker.jobs import ingest_inbox, run_actions
from tests.recovery.engine.test_batches import post
from tests.recovery.engine.test_e2e import deliver, failed_event, scheduled, the_case
from tests.recovery.ingest.test_inbox_concurrency import stub_gateway
from tests.recovery.stripe_stub import Decline
from tests.webhooks import payloads as p
from webhooks.parse import parse_event

LIVE = (ActionStatus.scheduled.value, ActionStatus.claimed.value)
STEPS = (ActionKind.retry.value, ActionKind.end_dunning.value)
RACING_CASES = 12


def open_case(services, invoice_id: str = "in_live") -> int:
    now = services.clock.now()
    with services.sessions() as session:
        case = RecoveryCase(account_id="acct_default", stripe_invoice_id=invoice_id,
                            first_failed_at=now, created_at=now, updated_at=now)
        session.add(case)
        session.commit()
        return case.id


def action_row(case_id: int, kind: ActionKind, status: ActionStatus, now) -> dict:
    return dict(account_id="acct_default", case_id=case_id, kind=kind.value, due_at=now,
                status=status.value, reason="test", created_at=now)


def live_steps(services) -> Counter[int]:
    with services.sessions() as session:
        return Counter(session.scalars(select(ScheduledAction.case_id).where(
            ScheduledAction.kind.in_(STEPS), ScheduledAction.status.in_(LIVE))))


@pytest.mark.parametrize("second", [(ActionKind.retry, ActionStatus.scheduled),
                                    (ActionKind.retry, ActionStatus.claimed),
                                    (ActionKind.end_dunning, ActionStatus.scheduled)])
def test_the_database_refuses_a_second_live_step_for_a_case(services, second):
    case_id, now = open_case(services), services.clock.now()
    with services.sessions() as session:
        session.execute(insert(ScheduledAction), [
            action_row(case_id, ActionKind.retry, ActionStatus.scheduled, now),
            # Finished steps and messages are no live steps: any number may sit beside it.
            action_row(case_id, ActionKind.retry, ActionStatus.done, now),
            action_row(case_id, ActionKind.end_dunning, ActionStatus.canceled, now),
            action_row(case_id, ActionKind.notify, ActionStatus.scheduled, now),
        ])
        session.commit()
        with pytest.raises(IntegrityError):
            session.execute(insert(ScheduledAction), [action_row(case_id, *second, now)])


def test_a_step_drafted_beside_a_live_one_is_left_out(services):
    case_id, now = open_case(services), services.clock.now()
    with services.sessions() as session:
        case = session.get(RecoveryCase, case_id)
        first = cases.schedule_many(session, [ActionDraft(case, ActionKind.retry, now, "first")],
                                    now)
        second = cases.schedule_many(session, [
            ActionDraft(case, ActionKind.retry, now + timedelta(hours=1), "second"),
            ActionDraft(case, ActionKind.notify, now, "a message", {"template": "x"})], now)
        session.commit()
        reasons = session.scalars(select(ScheduledAction.reason)
                                  .order_by(ScheduledAction.id)).all()
    assert (first, second) == ({case_id}, set())
    assert reasons == ["first", "a message"]


def test_a_card_change_while_the_retry_runs_waits_for_its_outcome(client, services, stub):
    deliver(client, services, failed_event(services))
    run_actions(services)
    (retry,) = scheduled(services, ActionKind.retry)
    services.clock.set(retry.due_at)
    assert actions.claim_due(services.sessions, services.clock, "busy", 10) == [retry.id]
    # The customer adds a card while the worker is charging the old one.
    services.clock.advance(timedelta(seconds=20))
    stub.cards["pm_NewCard0000000001"] = ("fpNewCardXYZ", "visa")
    deliver(client, services, p.payment_method_event(
        "payment_method.attached", p.LATEST, payment_method_id="pm_NewCard0000000001",
        fingerprint="fpNewCardXYZ", created=services.clock.now()))
    assert live_steps(services) == {the_case(services).id: 1}
    assert scheduled(services, ActionKind.retry) == []

    stub.pay_results.append(Decline("insufficient_funds"))
    services.steps.run(Claim(retry.id, "busy"))  # the running retry ends, declined on the old card
    (next_retry,) = scheduled(services, ActionKind.retry)
    # The new card was not the one charged: the next retry is planned for it.
    assert next_retry.reason.endswith("card updated")
    assert live_steps(services) == {the_case(services).id: 1}


def test_a_case_closed_meanwhile_is_not_planned_again(client, services, stub):
    deliver(client, services, failed_event(services))
    case = the_case(services)
    with services.sessions() as session:
        stale = session.get(RecoveryCase, case.id)  # read before another worker closed it
        deliver(client, services, p.invoice_event("invoice.paid", p.LATEST,
                                                  created=services.clock.now()))
        services.engine.planner.replan(session, stale, label=None, card_changed=True)
        session.commit()
    assert the_case(services).status == CaseStatus.recovered
    assert live_steps(services) == {}


# Two workers planning one case at the same moment ----------------------------------------------


class HeldTransaction:
    """Holds the first worker's transaction open right after it wrote its plan, until the second
    worker is seen waiting on a row lock (or has finished), then lets it commit."""

    def __init__(self, services, monkeypatch) -> None:
        self.services = services
        self.planned, self.release = threading.Event(), threading.Event()
        real = cases.schedule_many

        def holding(session, drafts, now):
            written = real(session, drafts, now)
            if threading.current_thread().name.startswith("first") and not self.planned.is_set():
                self.planned.set()
                assert self.release.wait(30), "the second worker never got going"
            return written

        monkeypatch.setattr(cases, "schedule_many", holding)

    def someone_waits_on_a_lock(self) -> bool:
        with self.services.sessions() as session:
            return session.scalar(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'")) > 0

    def run(self, first, second) -> None:
        with ThreadPoolExecutor(1, thread_name_prefix="first") as one, \
                ThreadPoolExecutor(1, thread_name_prefix="second") as two:
            held = one.submit(first)
            assert self.planned.wait(30), "the first worker never planned"
            waiting = two.submit(second)
            deadline = time.monotonic() + 10
            while not (waiting.done() or self.someone_waits_on_a_lock()):
                assert time.monotonic() < deadline, "the second worker neither ran nor waited"
                time.sleep(0.02)
            self.release.set()
            held.result()
            waiting.result()


def handled_by_its_own_worker(settings, clock, stub, outbox, payload: dict):
    """A worker's whole handling of one event: its own services, session and transaction."""
    def handle() -> None:
        built = racing_worker(settings, clock, stub, outbox)
        try:
            with transaction(built.sessions) as session:
                built.engine.handle(session, "acct_default", parse_event(payload))
        finally:
            built.close()
    return handle


@pytest.mark.postgres
@pytest.mark.parametrize("second_event", ["customer.updated", "charge.failed"])
def test_a_plan_made_while_another_worker_plans_the_case_leaves_one_live_retry(
        client, services, settings, clock, stub, tmp_path, monkeypatch, second_event):
    if services.db_engine.dialect.name != "postgresql":
        pytest.skip("SQLite lets one writer in at a time: this interleaving cannot happen there")
    deliver(client, services, failed_event(services))  # insufficient funds: a retry is planned
    stub.cards["pm_NewCard0000000001"] = ("fpNewCardXYZ", "visa")
    attached = p.payment_method_event(
        "payment_method.attached", p.LATEST, payment_method_id="pm_NewCard0000000001",
        fingerprint="fpNewCardXYZ", created=clock.now())
    second = {
        "customer.updated": p.customer_updated_event(
            p.LATEST, default_payment_method="pm_NewCard0000000001", created=clock.now()),
        # Stripe's own attempt on the old card, declined, reported while the card changes.
        "charge.failed": p.charge_failed_event(p.LATEST, charge_id="ch_stripe2",
                                               created=clock.now()),
    }[second_event]
    outbox = tmp_path / "outbox"

    HeldTransaction(services, monkeypatch).run(
        handled_by_its_own_worker(settings, clock, stub, outbox, attached),
        handled_by_its_own_worker(settings, clock, stub, outbox, second))

    assert live_steps(services) == {the_case(services).id: 1}


# Two workers, two card-change events per case at the same moment -------------------------------


def racing_worker(settings, clock, stub, outbox):
    built = build_services(settings, clock)
    built.engine.gateway.close()
    wire_engine(built, stub_gateway(stub), EmlOutboxChannel(outbox))
    return built


def card_change_events(n: int, now) -> list[dict]:
    """What Stripe sends when a customer adds a card and makes it the invoice default."""
    customer, method = f"cus_race{n:03d}", f"pm_race{n:03d}"
    return [
        p.payment_method_event("payment_method.attached", p.LATEST, payment_method_id=method,
                               customer=customer, fingerprint=f"fp_new{n:03d}", created=now),
        p.customer_updated_event(p.LATEST, customer_id=customer, default_payment_method=method,
                                 created=now),
    ]


def drain_one_at_a_time(built, clock, start: threading.Barrier) -> int:
    start.wait()
    handled = 0
    while True:
        result = ingest_once(built.sessions, clock, built.handler, batch_size=1,
                             batches=built.engine)
        if not result.total:
            return handled
        handled += result.total


def test_two_workers_changing_one_cases_card_leave_one_live_retry(
        client, services, settings, clock, stub, tmp_path):
    for n in range(RACING_CASES):
        invoice = f"in_race{n:03d}"
        stub.declines[invoice] = Decline("expired_card", failure_code="expired_card",
                                         network_decline_code="54")
        stub.cards[f"pm_race{n:03d}"] = (f"fp_new{n:03d}", "visa")
        deliver(client, services, failed_event(services, invoice_id=invoice,
                                               customer=f"cus_race{n:03d}"))
    assert {c.waiting_for for c in all_cases(services)} == {WaitingFor.new_card.value}
    for n in range(RACING_CASES):
        for event in card_change_events(n, clock.now()):
            post(client, services, event)

    workers = [racing_worker(settings, clock, stub, tmp_path / "outbox")
               for _ in range(2)]
    start = threading.Barrier(2)
    try:
        with ThreadPoolExecutor(2) as pool:
            for future in [pool.submit(drain_one_at_a_time, w, clock, start) for w in workers]:
                future.result()
        clock.advance(timedelta(minutes=5))  # a lost race is retried after its backoff
        ingest_inbox(services)
    finally:
        for built in workers:
            built.close()

    assert live_steps(services) == {case.id: 1 for case in all_cases(services)}
    retries = scheduled(services, ActionKind.retry)
    assert len(retries) == RACING_CASES
    assert all(r.due_at - clock.now() <= timedelta(minutes=10) for r in retries)


def all_cases(services) -> list[RecoveryCase]:
    with services.sessions() as session:
        return list(session.scalars(select(RecoveryCase)))
