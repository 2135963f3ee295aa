"""Fenced claims, on SQLite and PostgreSQL: a worker whose lease ran out while it was calling
Stripe, and whose action another worker took, records nothing; and a long batch never lets the
leases of actions still waiting in it run out.

The takeover happens inside the first worker's Stripe call (the stub's hook), exactly where a
slow Stripe answer would let it happen in production.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from models import ActionKind, ActionStatus, CaseStatus
from recovery.actions import runner
from recovery.runtime.claims import Claim
from tests.recovery.actions.flow import (
    action,
    actions_of,
    deliver,
    engine_attempts,
    failed_event,
    next_retry,
    open_case,
    the_case,
)
from tests.recovery.stripe_stub import Decline

ANSWERS = {
    "paid": None,
    "declined": Decline("insufficient_funds"),
    "unavailable": (503, {"type": "api_error", "message": "Stripe is down"}),
    "refused": (400, {"type": "invalid_request_error", "message": "Refused for no reason."}),
}


def take_over(services, worker: str):
    """While the first worker waits on Stripe, its lease runs out and ``worker`` claims the
    action (the stale-claim job released it)."""
    def hook():
        services.clock.advance(runner.LEASE + timedelta(seconds=1))
        assert runner.release_stale_actions(services.sessions, services.clock) == 1
        assert runner.claim_due(services.sessions, services.clock, worker, 1)
    return hook


@pytest.mark.parametrize("answer", list(ANSWERS))
def test_a_worker_that_lost_its_claim_records_nothing(client, services, stub, caplog, answer):
    open_case(client, services)
    retry = next_retry(services)
    services.clock.set(retry.due_at)
    if isinstance(ANSWERS[answer], Decline):
        stub.pay_results.append(ANSWERS[answer])
    elif ANSWERS[answer] is not None:
        stub.pay_errors.append(ANSWERS[answer])
    stub.hooks["pay"] = take_over(services, "worker-b")

    with caplog.at_level(logging.WARNING, logger="recovery.actions"):
        result = runner.run_due_actions(services.sessions, services.clock, services.steps,
                                        worker_id="worker-a")

    assert result.lost == 1 and result.total == 1
    held = action(services, retry.id)
    assert (held.status, held.claimed_by) == (ActionStatus.claimed, "worker-b")
    assert (held.tries, held.result, held.last_error) == (0, None, None)
    assert engine_attempts(services) == []
    assert the_case(services).status == CaseStatus.open
    assert any(r.getMessage() == runner.CLAIM_LOST for r in caplog.records)


def test_the_worker_that_took_over_finishes_the_action_once(client, services, stub):
    open_case(client, services)
    retry = next_retry(services)
    services.clock.set(retry.due_at)
    stub.hooks["pay"] = take_over(services, "worker-b")
    runner.run_due_actions(services.sessions, services.clock, services.steps,
                           worker_id="worker-a")
    stub.hooks.clear()

    outcome = runner.run_action(services.sessions, services.clock, services.steps,
                                Claim(retry.id, "worker-b"))

    # worker-a's charge went through: worker-b finds the invoice paid and charges nothing.
    assert outcome == "done"
    finished = action(services, retry.id)
    assert (finished.status, finished.claimed_by) == (ActionStatus.canceled, "worker-b")
    assert finished.result == {"skipped": "invoice paid"}
    assert the_case(services).status == CaseStatus.recovered
    assert stub.pay_keys == [f"recovery:{retry.id}"]


def test_a_claim_lost_before_the_step_started_calls_no_one(client, services, stub):
    open_case(client, services)
    retry = next_retry(services)
    services.clock.set(retry.due_at)
    (claimed,) = runner.claim_due(services.sessions, services.clock, "worker-a", 1)
    take_over(services, "worker-b")()

    outcome = runner.run_action(services.sessions, services.clock, services.steps,
                                Claim(claimed, "worker-a"))

    assert outcome == "lost"
    assert stub.pay_keys == [] and "retrieve" not in stub.calls[-1:]


def test_a_long_batch_does_not_let_later_leases_run_out(client, services, stub):
    """Two failed invoices: two ownership steps (each a slow Stripe call of 3 minutes, well
    inside a lease) and two notices, all due now. The batch outlasts one lease; no action in it
    may be found stale."""
    stub.declines["in_SecondInvoice0001"] = Decline("insufficient_funds")
    deliver(client, services, failed_event(services))
    deliver(client, services, failed_event(services, invoice_id="in_SecondInvoice0001",
                                           charge=None))
    start = services.clock.now()
    released = []

    def slow_stripe():
        services.clock.advance(timedelta(minutes=3))
        released.append(runner.release_stale_actions(services.sessions, services.clock))

    stub.hooks["update"] = slow_stripe
    result = runner.run_due_actions(services.sessions, services.clock, services.steps,
                                    worker_id="worker-a")

    assert services.clock.now() - start > runner.LEASE
    assert released == [0, 0]
    assert (result.done, result.lost) == (4, 0)
    second = actions_of(services, ActionKind.take_ownership)[1]
    assert second.claimed_at == start + timedelta(minutes=3)  # its lease began when it ran


def test_an_action_claimed_while_the_worker_is_told_to_stop_stays_scheduled(client, services,
                                                                             stub):
    open_case(client, services)
    retry = next_retry(services)
    services.clock.set(retry.due_at)
    assert runner.claim_due(services.sessions, services.clock, "stopping", 1,
                            should_stop=lambda: True) == []
    assert action(services, retry.id).status == ActionStatus.scheduled.value
    assert runner.claim_due(services.sessions, services.clock, "worker-b", 1) == [retry.id]
