"""End to end: real signed webhooks -> inbox -> engine -> scheduled actions -> Stripe (respx)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from models import (
    ActionKind,
    ActionStatus,
    CaseStatus,
    ChargeAttempt,
    RecoveryCase,
    ScheduledAction,
    WaitingFor,
)
from recovery.actions import runner as actions
from recovery.worker.jobs import ingest_inbox, run_actions
from tests.conftest import WEBHOOK_SECRET
from tests.recovery.stripe_stub import Decline
from tests.webhooks import payloads as p
from tests.webhooks.signing import signed_request


def deliver(client, services, payload: dict) -> None:
    body, headers = signed_request(payload, WEBHOOK_SECRET, services.clock.now())
    assert client.post("/webhooks/stripe", content=body, headers=headers).status_code == 200
    ingest_inbox(services)


def failed_event(services, **fields):
    fields.setdefault("created", services.clock.now())
    return p.invoice_event("invoice.payment_failed", p.LATEST, attempt_count=1, **fields)


def the_case(services) -> RecoveryCase:
    with services.sessions() as session:
        return session.exec(select(RecoveryCase)).one()


def scheduled(services, kind: ActionKind) -> list[ScheduledAction]:
    with services.sessions() as session:
        return list(session.exec(select(ScheduledAction).where(
            ScheduledAction.kind == kind.value,
            ScheduledAction.status == ActionStatus.scheduled.value)))


def attempts(services) -> list[ChargeAttempt]:
    with services.sessions() as session:
        return list(session.exec(select(ChargeAttempt).order_by(ChargeAttempt.id)))


class WorkerKilled(BaseException):
    """The process dies after Stripe answered: not an error the runner could record."""


def run_until_next_retry(services) -> ScheduledAction:
    (retry,) = scheduled(services, ActionKind.retry)
    services.clock.set(retry.due_at)
    run_actions(services)
    return retry


def test_insufficient_funds_is_retried_until_paid(client, services, stub):
    stub.pay_results.extend([Decline("insufficient_funds")])
    deliver(client, services, failed_event(services))
    case = the_case(services)
    assert case.status == CaseStatus.open and case.waiting_for == WaitingFor.retry
    assert case.card_fingerprint == p.FINGERPRINT
    (first,) = attempts(services)
    assert (first.by, first.decline_code, first.decline_class) == (
        "stripe", "insufficient_funds", "retry")
    (retry,) = scheduled(services, ActionKind.retry)
    # The card was issued in the US: the customer's day is New York's. Day 2 at 09:00 there is
    # 14:00 UTC, exactly 24 h after the first attempt.
    assert case.customer_timezone == "America/New_York"
    assert retry.reason == "retry 1 of 5, day 2, 09:00 local: insufficient_funds"

    run_actions(services)  # take ownership and tell the customer, both due now
    assert any(c.startswith("update:") and "auto_advance=false" in c for c in stub.calls)

    first_retry = run_until_next_retry(services)
    assert stub.pay_keys == [f"recovery:{first_retry.id}"]
    # Stripe's charge.failed for our own retry arrives afterwards: it must not count twice.
    deliver(client, services, p.charge_failed_event(p.LATEST, charge_id="ch_retry1",
                                                    created=services.clock.now()))
    assert len(attempts(services)) == 2 and attempts(services)[1].by == "engine"
    assert len(scheduled(services, ActionKind.retry)) == 1

    second_retry = run_until_next_retry(services)
    assert stub.pay_keys == [f"recovery:{first_retry.id}", f"recovery:{second_retry.id}"]
    deliver(client, services, p.invoice_event("invoice.paid", p.LATEST,
                                              created=services.clock.now()))
    case = the_case(services)
    assert (case.status, case.recovered_by) == (CaseStatus.recovered, "retry")
    assert scheduled(services, ActionKind.retry) == []
    assert stub.charges == 2


def test_expired_card_waits_for_a_new_card_then_retries_within_minutes(client, services, stub):
    stub.first_decline = Decline("expired_card", failure_code="expired_card",
                                 network_decline_code="54")
    deliver(client, services, failed_event(services))
    case = the_case(services)
    assert case.waiting_for == WaitingFor.new_card
    assert scheduled(services, ActionKind.retry) == []
    services.clock.advance(timedelta(days=2))
    run_actions(services)
    assert stub.pay_keys == []

    stub.cards["pm_NewCard0000000001"] = ("fpNewCardXYZ", "visa")
    deliver(client, services, p.payment_method_event(
        "payment_method.attached", p.LATEST, payment_method_id="pm_NewCard0000000001",
        fingerprint="fpNewCardXYZ", created=services.clock.now()))
    (retry,) = scheduled(services, ActionKind.retry)
    assert retry.due_at - services.clock.now() <= timedelta(minutes=10)
    run_until_next_retry(services)
    assert len(stub.pay_keys) == 1
    case = the_case(services)
    assert (case.status, case.recovered_by) == (CaseStatus.recovered, "card_update")


def test_stolen_card_is_never_charged_again(client, services, stub, caplog):
    stub.first_decline = Decline("stolen_card", network_decline_code="43")
    deliver(client, services, failed_event(services))
    case = the_case(services)
    assert case.waiting_for == WaitingFor.new_card
    assert "card reported stolen" in case.last_reason
    for _ in range(30):
        services.clock.advance(timedelta(days=1))
        run_actions(services)
    assert stub.pay_keys == []
    assert the_case(services).status == CaseStatus.exhausted
    assert "mark_uncollectible" in stub.calls and "cancel_subscription" in stub.calls


def test_a_retry_refused_by_the_network_rules_never_reaches_stripe(client, services, stub):
    deliver(client, services, failed_event(services))
    (retry,) = scheduled(services, ActionKind.retry)
    # Stripe itself charges the same card again (coexist-style) and it comes back stolen.
    deliver(client, services, p.charge_failed_event(
        p.LATEST, charge_id="ch_stripe2", decline_code="stolen_card", network_decline_code="43",
        created=retry.due_at - timedelta(hours=1)))
    services.clock.set(retry.due_at)
    run_actions(services)
    assert stub.pay_keys == []
    assert the_case(services).waiting_for == WaitingFor.new_card


def test_authentication_required_is_never_retried_off_session(client, services, stub):
    stub.first_decline = Decline("authentication_required",
                                 failure_code="authentication_required", network_decline_code="1A")
    deliver(client, services, failed_event(services))
    deliver(client, services, p.invoice_event("invoice.payment_action_required", p.LATEST,
                                              created=services.clock.now()))
    assert the_case(services).waiting_for == WaitingFor.authentication
    for _ in range(10):
        services.clock.advance(timedelta(days=1))
        run_actions(services)
    assert stub.pay_keys == []


def test_paid_before_failed_never_charges_the_paid_invoice(client, services, stub):
    stub.status = "paid"
    deliver(client, services, p.invoice_event("invoice.paid", p.LATEST,
                                              created=services.clock.now()))
    deliver(client, services, failed_event(services, created=services.clock.now()
                                           - timedelta(minutes=5)))
    deliver(client, services, failed_event(services))  # a duplicate delivery, new event id
    for _ in range(5):
        services.clock.advance(timedelta(days=2))
        run_actions(services)
    assert stub.pay_keys == []
    with services.sessions() as session:  # the invoice had finished: no case, no message
        assert session.exec(select(RecoveryCase)).all() == []
        assert session.exec(select(ScheduledAction)).all() == []


def test_a_worker_that_dies_after_claiming_leaves_the_retry_to_run_once(client, services, stub):
    deliver(client, services, failed_event(services))
    run_actions(services)
    (retry,) = scheduled(services, ActionKind.retry)
    services.clock.set(retry.due_at)
    assert actions.claim_due(services.sessions, services.clock, "doomed", 10) == [retry.id]
    run_actions(services)  # the claim is held: nobody else runs it
    assert stub.pay_keys == []
    services.clock.advance(actions.LEASE + timedelta(seconds=1))
    assert actions.release_stale_actions(services.sessions, services.clock) == 1
    run_actions(services)
    assert stub.pay_keys == [f"recovery:{retry.id}"]


def test_a_crash_after_the_charge_reuses_the_same_key(client, services, stub, monkeypatch):
    stub.pay_results.extend([Decline("insufficient_funds")])
    deliver(client, services, failed_event(services))
    run_actions(services)
    (retry,) = scheduled(services, ActionKind.retry)
    services.clock.set(retry.due_at)
    original = services.engine.record_retry_outcome

    def crash(*args, **kwargs):
        raise WorkerKilled("worker killed after Stripe answered")

    monkeypatch.setattr(services.engine, "record_retry_outcome", crash)
    with pytest.raises(WorkerKilled):
        run_actions(services)
    monkeypatch.setattr(services.engine, "record_retry_outcome", original)
    services.clock.advance(actions.LEASE + timedelta(seconds=1))
    actions.release_stale_actions(services.sessions, services.clock)
    stub.pay_results.appendleft(Decline("insufficient_funds"))  # Stripe replays the same answer
    run_actions(services)
    assert stub.pay_keys == [f"recovery:{retry.id}"] * 2
    assert [a.stripe_charge_id for a in attempts(services)] == [p.CHARGE_ID, "ch_retry2"]


def retry_dies_after_stripe_answered(client, services, monkeypatch) -> ScheduledAction:
    """Open a case, then run its first retry on a worker that dies once Stripe has answered
    the charge, before the answer is recorded; returns that retry (still claimed)."""
    deliver(client, services, failed_event(services))
    run_actions(services)
    (retry,) = scheduled(services, ActionKind.retry)
    services.clock.set(retry.due_at)

    def crash(*args, **kwargs):
        raise WorkerKilled

    monkeypatch.setattr(services.engine, "record_retry_outcome", crash)
    with pytest.raises(WorkerKilled):
        run_actions(services)
    monkeypatch.undo()
    return retry


def test_a_retry_whose_answer_was_lost_is_recorded_from_invoice_paid(
        client, services, stub, monkeypatch):
    """The retry paid the invoice, the worker died before recording it, and ``invoice.paid``
    (carrying the retry's key) ends the case first: the engine's records still hold the charge,
    as the retry's, and the retry never runs again."""
    retry = retry_dies_after_stripe_answered(client, services, monkeypatch)
    paid = p.invoice_event("invoice.paid", p.LATEST, created=services.clock.now())
    paid["request"] = {"id": "req_retry", "idempotency_key": f"recovery:{retry.id}"}
    deliver(client, services, paid)
    case = the_case(services)
    assert (case.status, case.recovered_by) == (CaseStatus.recovered.value, "retry")
    (first, success) = attempts(services)
    assert (success.by, success.action_id, success.succeeded) == ("engine", retry.id, True)
    assert success.card_fingerprint == first.card_fingerprint  # the card on file was charged
    services.clock.advance(actions.LEASE + timedelta(seconds=1))
    actions.release_stale_actions(services.sessions, services.clock)
    run_actions(services)
    assert stub.pay_keys == [f"recovery:{retry.id}"]  # never charged again
    assert len(attempts(services)) == 2


def test_a_retry_decline_reported_while_its_worker_is_dead_is_counted_if_the_case_ends(
        client, services, stub, monkeypatch):
    """The retry was declined and its worker died before recording it; Stripe's failure event
    (with the retry's key) arrives while the dead worker still holds the claim, then the
    subscription is canceled. The retry, run again, finds its case ended and is canceled: the
    decline the issuer saw is counted all the same, once, as the retry's."""
    stub.pay_results.append(Decline("insufficient_funds"))
    retry = retry_dies_after_stripe_answered(client, services, monkeypatch)
    stub.latest_charge_id = "ch_retry1"  # the invoice's newest attempt is the retry's decline
    failed = failed_event(services)
    failed["request"] = {"id": "req_retry", "idempotency_key": f"recovery:{retry.id}"}
    deliver(client, services, failed)
    deliver(client, services, p.subscription_deleted_event(created=services.clock.now()))
    assert the_case(services).status != CaseStatus.open.value
    services.clock.advance(actions.LEASE + timedelta(seconds=1))
    actions.release_stale_actions(services.sessions, services.clock)
    run_actions(services)
    assert stub.pay_keys == [f"recovery:{retry.id}"]
    (first, declined) = attempts(services)
    assert (declined.stripe_charge_id, declined.by, declined.action_id) == \
        ("ch_retry1", "engine", retry.id)
    assert declined.card_fingerprint == first.card_fingerprint


def test_a_retry_decline_reported_while_its_worker_is_dead_is_its_outcome_when_it_runs_again(
        client, services, stub, monkeypatch):
    """The retry was declined and its worker died before recording it; Stripe's failure event
    (with the retry's key) counts the decline meanwhile. Run again once the lease runs out, the
    retry takes that decline as its outcome: no second charge, no refusal by the network rules
    for its own charge, and the next retry planned as after any decline (day 5, not a day
    later)."""
    stub.pay_results.append(Decline("insufficient_funds"))
    retry = retry_dies_after_stripe_answered(client, services, monkeypatch)
    stub.latest_charge_id = "ch_retry1"
    failed = failed_event(services)
    failed["request"] = {"id": "req_retry", "idempotency_key": f"recovery:{retry.id}"}
    deliver(client, services, failed)
    services.clock.advance(actions.LEASE + timedelta(seconds=1))
    actions.release_stale_actions(services.sessions, services.clock)
    run_actions(services)

    assert stub.pay_keys == [f"recovery:{retry.id}"]
    with services.sessions() as session:
        done = session.get(ScheduledAction, retry.id)
    assert (done.status, done.result["charge"], done.result["decline"]) == (
        ActionStatus.done.value, "ch_retry1", "insufficient_funds")
    (_first, declined) = attempts(services)
    assert (declined.stripe_charge_id, declined.by, declined.action_id) == \
        ("ch_retry1", "engine", retry.id)
    (following,) = scheduled(services, ActionKind.retry)
    assert following.reason.startswith("retry 2 of 5, day 5")
    assert following.due_at - retry.due_at == timedelta(days=3)


def test_stripe_unavailable_defers_the_retry_with_the_same_key(client, services, stub):
    deliver(client, services, failed_event(services))
    run_actions(services)
    (retry,) = scheduled(services, ActionKind.retry)
    services.clock.set(retry.due_at)
    stub.outage = (503, {"type": "api_error", "message": "down"})
    run_actions(services)
    stub.outage = None
    (deferred,) = scheduled(services, ActionKind.retry)
    assert deferred.id == retry.id and deferred.tries == 0  # Stripe's trouble uses no try
    assert deferred.result["deferrals"] == 1
    services.clock.set(deferred.due_at)
    run_actions(services)
    assert stub.pay_keys == [f"recovery:{retry.id}"]


def test_revoked_credentials_pause_the_account(client, services, stub):
    deliver(client, services, failed_event(services))
    stub.outage = (401, {"type": "invalid_request_error", "message": "Invalid API Key provided"})
    run_actions(services)
    with services.sessions() as session:
        statuses = {a.status for a in session.exec(select(ScheduledAction))}
    assert ActionStatus.paused.value in statuses
    assert ActionStatus.scheduled.value not in statuses
    stub.outage = None
    assert actions.resume_account(services.sessions, services.clock, "acct_default") >= 1
    assert scheduled(services, ActionKind.retry)
