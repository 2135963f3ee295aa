"""The ingest job's batches: many facts in one transaction, failures planned together.

A batch must leave exactly the state that handling its events one at a time leaves, whatever
mix of failures, payments, card changes and duplicates it holds; a batch that fails is handled
again event by event, so one bad event costs nobody else their work.
"""

from __future__ import annotations

from sqlmodel import select

from models import (
    ActionStatus,
    ChargeAttempt,
    InboxStatus,
    RecoveryCase,
    ScheduledAction,
    WebhookEvent,
)
from recovery.engine.planning import Planner
from recovery.worker.jobs import ingest_inbox, refresh_pending_decline_details
from tests.conftest import WEBHOOK_SECRET
from tests.recovery.stripe_stub import Decline, StripeStub
from tests.webhooks import payloads as p
from tests.webhooks.signing import signed_request

# One invoice per kind of story; each has its own customer and card.
DECLINES = {
    "1": Decline("insufficient_funds"),
    "2": Decline("expired_card", failure_code="expired_card", network_decline_code="54"),
    "3": Decline("stolen_card", network_decline_code="43"),
    "4": Decline("do_not_honor", network_decline_code="05"),
    "5": Decline("insufficient_funds"),
    "6": Decline("authentication_required", failure_code="authentication_required",
                 network_decline_code="1A"),
    "7": Decline("card_velocity_exceeded", network_decline_code="65"),
}


def story(services, prefix: str) -> list[dict]:
    """Failures of seven invoices, then what follows some of them, in delivery order."""
    now = services.clock.now()

    def failed(n: str) -> dict:
        return p.invoice_event("invoice.payment_failed", p.LATEST, invoice_id=f"in_{prefix}{n}",
                               customer=f"cus_{prefix}{n}", created=now)

    events = [failed(n) for n in DECLINES]
    events.append(failed("7"))  # a duplicate delivery under a new event id
    events.append(p.invoice_event("invoice.paid", p.LATEST, invoice_id=f"in_{prefix}5",
                                  customer=f"cus_{prefix}5", created=now))
    events.append(p.payment_method_event(
        "payment_method.attached", p.LATEST, payment_method_id=f"pm_{prefix}new",
        customer=f"cus_{prefix}2", fingerprint=f"fp_{prefix}new", created=now))
    events.append(p.invoice_event("invoice.payment_action_required", p.LATEST,
                                  invoice_id=f"in_{prefix}6", customer=f"cus_{prefix}6",
                                  created=now))
    return events


def post(client, services, payload: dict) -> None:
    body, headers = signed_request(payload, WEBHOOK_SECRET, services.clock.now())
    assert client.post("/webhooks/stripe", content=body, headers=headers).status_code == 200


def outcome(services, prefix: str) -> dict:
    """Each case of the story with its attempts and actions, ids left out."""
    with services.sessions() as session:
        found = {}
        for case in session.exec(select(RecoveryCase).where(
                RecoveryCase.stripe_invoice_id.startswith(f"in_{prefix}"))):
            attempts = session.exec(select(ChargeAttempt).where(ChargeAttempt.case_id == case.id))
            actions = session.exec(select(ScheduledAction).where(
                ScheduledAction.case_id == case.id))
            found[case.stripe_invoice_id.removeprefix(f"in_{prefix}")] = (
                case.status, case.waiting_for, case.last_reason, case.last_decline_class,
                case.recovered_by, (case.card_fingerprint or "").replace(prefix, "*"),
                sorted((a.decline_code, a.decline_class) for a in attempts),
                sorted((a.kind, a.status, a.due_at, a.reason, (a.params or {}).get("template"),
                        a.idempotency_key in (None, f"recovery:{a.id}")) for a in actions),
            )
        return found


def declines_for(stub: StripeStub, prefix: str) -> None:
    stub.declines.update({f"in_{prefix}{n}": decline for n, decline in DECLINES.items()})


def test_a_batch_leaves_the_state_that_one_event_at_a_time_leaves(client, services, stub,
                                                                   monkeypatch):
    declines_for(stub, "a")
    declines_for(stub, "b")
    for event in story(services, "a"):
        post(client, services, event)
        ingest_inbox(services)

    plan_calls = []
    real_replan_many = Planner.replan_many

    def counting(self, session, requests):
        plan_calls.append(len(requests))
        return real_replan_many(self, session, requests)

    monkeypatch.setattr(Planner, "replan_many", counting)
    for event in story(services, "b"):
        post(client, services, event)
    ingest_inbox(services)

    one_by_one, together = outcome(services, "a"), outcome(services, "b")
    assert len(together) == 7
    assert together == one_by_one
    # Planned together: the seven failures before the paid event in one go, not one call each.
    assert plan_calls[0] == len(DECLINES) and len(plan_calls) < len(DECLINES)
    with services.sessions() as session:
        statuses = session.exec(select(WebhookEvent.status)).all()
    assert set(statuses) == {InboxStatus.processed.value}


def test_a_batch_reads_stripe_before_its_transaction_and_once_per_failure(client, services,
                                                                           stub, monkeypatch):
    declines_for(stub, "c")
    for event in story(services, "c"):
        post(client, services, event)
    opened = []
    real_sessions = services.sessions

    def watching():
        opened.append(len(stub.calls))
        return real_sessions()

    monkeypatch.setattr(services, "sessions", watching)
    ingest_inbox(services)
    reads = [c for c in stub.calls if c == "invoice_payments"]
    assert len(reads) == len(DECLINES)  # the duplicate failure is read once
    # The last session (the batch's transaction) opened after every read.
    assert opened[-1] == len(stub.calls)


def test_one_failing_event_sends_the_batch_back_to_one_at_a_time(client, services, stub,
                                                                monkeypatch):
    declines_for(stub, "d")
    engine = services.engine
    real_handle = engine.handle

    def broken_for_invoice_3(session, account_id, fact):
        if getattr(fact, "invoice_id", None) == "in_d3":
            raise RuntimeError("handler bug")
        real_handle(session, account_id, fact)

    monkeypatch.setattr(services, "handler", broken_for_invoice_3)
    for event in story(services, "d"):
        post(client, services, event)
    ingest_inbox(services)

    with services.sessions() as session:
        rows = session.exec(select(WebhookEvent)).all()
    retrying = [r for r in rows if r.status == InboxStatus.pending.value]
    assert len(retrying) == 1 and "handler bug" in retrying[0].last_error
    assert sum(r.status == InboxStatus.processed.value for r in rows) == len(rows) - 1
    cases = outcome(services, "d")
    assert "3" not in cases and len(cases) == 6
    with services.sessions() as session:
        retries = session.exec(select(ScheduledAction).where(
            ScheduledAction.kind == "retry",
            ScheduledAction.status == ActionStatus.scheduled.value)).all()
    assert retries, "the other failures were planned"


def test_a_stripe_read_that_fails_before_the_batch_never_stops_the_ingest_job(client, services,
                                                                              stub):
    stub.outage = (401, {"type": "invalid_request_error", "message": "Invalid API Key provided"})
    post(client, services, p.invoice_event("invoice.payment_failed", p.LATEST,
                                           created=services.clock.now()))
    ingest_inbox(services)  # must not raise

    # The case opens without the decline details, which a later read fills in.
    with services.sessions() as session:
        (row,) = session.exec(select(WebhookEvent)).all()
        (attempt,) = session.exec(select(ChargeAttempt)).all()
    assert row.status == InboxStatus.processed.value and row.tries == 1
    assert attempt.details_pending and attempt.decline_code is None
    stub.outage = None
    refresh_pending_decline_details(services)
    with services.sessions() as session:
        (attempt,) = session.exec(select(ChargeAttempt)).all()
        case = session.exec(select(RecoveryCase)).one()
    assert not attempt.details_pending and attempt.decline_code == "insufficient_funds"
    assert case.waiting_for == "retry" and case.card_fingerprint == p.FINGERPRINT
