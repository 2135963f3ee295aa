"""Smart timing end to end: a smart policy's retry carries its decision (propensity, scorer,
explanation), its charge attempt keeps it as the training log, and ``cases show`` prints it."""

from __future__ import annotations

from models import Account, ActionKind
from recovery.cli.cases import describe_decision
from recovery.reports import cases as case_report
from recovery.rules.policy import RetryPolicy
from tests.recovery.engine.test_e2e import (
    attempts,
    deliver,
    failed_event,
    run_until_next_retry,
    scheduled,
)
from tests.recovery.stripe_stub import Decline
from tests.webhooks import payloads as p


def make_smart(services, **fields) -> None:
    with services.sessions() as session:
        account = session.get(Account, "acct_default")
        account.policy = RetryPolicy(timing="smart", **fields).to_dict()
        session.commit()


def test_a_smart_retry_records_its_decision_on_its_charge_attempt(client, services, stub):
    make_smart(services, exploration=0.0)
    stub.pay_results.extend([Decline("insufficient_funds")])
    deliver(client, services, failed_event(services))
    (retry,) = scheduled(services, ActionKind.retry)
    decision = retry.params["decision"]
    assert decision["propensity"] == 1.0  # no exploration: the greedy hour, for sure
    assert decision["scorer_version"] == "prior-1"
    assert decision["chosen_at"] == retry.due_at.isoformat()
    assert decision["explanation"]["chosen_chance"] > 0
    assert "cold start: decline-aware prior (1 of 500 attempts)" in retry.reason

    run_until_next_retry(services)
    engine_attempt = attempts(services)[-1]
    assert engine_attempt.by == "engine"
    assert engine_attempt.scorer_version == "prior-1"
    assert engine_attempt.features["propensity"] == 1.0
    assert engine_attempt.features["chosen_at"] == retry.due_at.isoformat()
    assert engine_attempt.features["explanation"]["source"].startswith("cold start")

    (second,) = scheduled(services, ActionKind.retry)
    run_until_next_retry(services)  # paid
    deliver(client, services, p.invoice_event("invoice.paid", p.LATEST,
                                              created=services.clock.now()))
    paid = attempts(services)[-1]
    assert paid.succeeded and paid.features["chosen_at"] == second.due_at.isoformat()

    _case, timeline = case_report.case_timeline(services.sessions, account_id="acct_default",
                                                invoice_id=p.INVOICE_ID)
    explained = [entry for entry in timeline if entry.explanation]
    assert len(explained) == 2
    text = describe_decision(explained[0].explanation)
    assert "chance at the chosen time" in text and "fixed schedule" in text


def test_a_fixed_policy_logs_a_certain_choice_and_no_explanation(client, services, stub):
    deliver(client, services, failed_event(services))
    (retry,) = scheduled(services, ActionKind.retry)
    assert retry.reason == "retry 1 of 5, day 2, 09:00 local: insufficient_funds"
    assert retry.params["decision"]["propensity"] == 1.0
    assert retry.params["decision"]["scorer_version"] == "fixed"
    assert retry.params["decision"]["explanation"] == {}
