"""Two workers claiming from one queue execute every due action exactly once."""

from __future__ import annotations

import threading
from collections import Counter

import httpx
import pytest
import respx
from sqlalchemy import insert, select

from models import ActionKind, ActionStatus, RecoveryCase, ScheduledAction
from recovery.actions import run_due_actions
from recovery.notifier import OutboxChannel
from recovery.services import build_gateway, build_services, wire_engine
from tests.webhooks import payloads as p


def seed_due_retries(services, count: int) -> None:
    now = services.clock.now()
    with services.sessions() as session:
        session.execute(insert(RecoveryCase), [dict(
            account_id="acct_default", stripe_invoice_id=f"in_{n:06d}", amount_due=1000,
            currency="usd", status="open", waiting_for="retry", card_fingerprint=f"fp_{n}",
            card_brand="visa", customer_timezone="UTC", engine_retries=0,
            first_failed_at=now, created_at=now, updated_at=now) for n in range(count)])
        ids = session.execute(select(RecoveryCase.id)).scalars().all()
        session.execute(insert(ScheduledAction), [dict(
            account_id="acct_default", case_id=case_id, kind=ActionKind.retry.value,
            due_at=now, status=ActionStatus.scheduled.value, reason="retry 1", tries=0,
            idempotency_key=f"recovery:seed{case_id}", created_at=now) for case_id in ids])
        session.commit()


def worker_services(settings, clock, tmp_path):
    built = build_services(settings, clock)
    wire_engine(built, build_gateway(settings), OutboxChannel(tmp_path / "outbox.jsonl"))
    return built


@pytest.mark.parametrize("count", [pytest.param(1000, marks=pytest.mark.postgres)])
def test_two_workers_execute_each_due_action_exactly_once(settings, clock, services, tmp_path,
                                                          count):
    if services.db_engine.dialect.name != "postgresql":
        pytest.skip("the 1,000-action race runs on PostgreSQL")
    seed_due_retries(services, count)
    keys: Counter[str] = Counter()
    lock = threading.Lock()

    def pay(request, inv):
        with lock:
            keys[request.headers["Idempotency-Key"]] += 1
        return httpx.Response(200, json=p.invoice_object(p.LATEST, invoice_id=inv, status="paid",
                                                         include_payments=False))

    def invoice(request, inv):
        return httpx.Response(200, json=p.invoice_object(p.LATEST, invoice_id=inv, status="open",
                                                         include_payments=False))

    done_by: Counter[str] = Counter()
    with respx.mock(assert_all_called=False) as router:
        router.get(url__regex=r".*/v1/invoices/(?P<inv>in_\w+)$").mock(side_effect=invoice)
        router.post(url__regex=r".*/v1/invoices/(?P<inv>in_\w+)/pay$").mock(side_effect=pay)
        workers = [worker_services(settings, clock, tmp_path) for _ in range(2)]

        def work(name: str, built) -> None:
            while (result := run_due_actions(built.sessions, clock, built.steps, worker_id=name,
                                             batch_size=25)).total:
                done_by[name] += result.done

        threads = [threading.Thread(target=work, args=(f"w{i}", w)) for i, w in enumerate(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for built in workers:
            built.close()
    assert len(keys) == count and set(keys.values()) == {1}
    assert done_by["w0"] > 0 and done_by["w1"] > 0
    # Each paid retry also queues one "payment recovered" message, run by the same workers.
    assert done_by["w0"] + done_by["w1"] == 2 * count
    with services.sessions() as session:
        statuses = Counter(session.execute(
            select(ScheduledAction.status).where(ScheduledAction.kind == "retry")).scalars())
    assert statuses == {ActionStatus.done.value: count}
