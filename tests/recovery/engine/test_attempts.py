"""Attempts and their classification, end to end: later reports about a charge merge into its
attempt and reclassify it, reconcile declines stop with an alert, and the classification decides
what the customer is told.

Real signed webhooks go through the app and the ingest job; Stripe is the respx stub.
"""

from __future__ import annotations

import logging

from sqlmodel import select

from models import ActionKind, ActionStatus, ChargeAttempt, RecoveryCase, ScheduledAction
from recovery.engine.attempts import RECONCILE_ALERT
from recovery.worker.jobs import ingest_inbox, run_actions
from tests.conftest import WEBHOOK_SECRET
from tests.recovery.stripe_stub import Decline
from tests.webhooks import payloads as p
from tests.webhooks.signing import signed_request


def deliver(client, services, payload: dict) -> None:
    body, headers = signed_request(payload, WEBHOOK_SECRET, services.clock.now())
    assert client.post("/webhooks/stripe", content=body, headers=headers).status_code == 200
    ingest_inbox(services)


def failed_event(services, **fields) -> dict:
    fields.setdefault("created", services.clock.now())
    fields.setdefault("attempt_count", 1)
    return p.invoice_event("invoice.payment_failed", p.LATEST, **fields)


def the_case(services) -> RecoveryCase:
    with services.sessions() as session:
        return session.exec(select(RecoveryCase)).one()


def live(services, kind: ActionKind) -> list[ScheduledAction]:
    with services.sessions() as session:
        return list(session.exec(select(ScheduledAction).where(
            ScheduledAction.kind == kind.value,
            ScheduledAction.status == ActionStatus.scheduled.value)))


def notices(services) -> list[str]:
    """The templates of every notice scheduled or sent, in order."""
    with services.sessions() as session:
        actions = session.exec(select(ScheduledAction).where(
            ScheduledAction.kind == ActionKind.notify.value,
            ScheduledAction.status != ActionStatus.canceled.value).order_by(ScheduledAction.id))
        return [(action.params or {}).get("template") for action in actions]


def attempts(services) -> list[ChargeAttempt]:
    with services.sessions() as session:
        return list(session.exec(select(ChargeAttempt).order_by(ChargeAttempt.id)))


def run_next_retry(services) -> None:
    (retry,) = live(services, ActionKind.retry)
    services.clock.set(retry.due_at)
    run_actions(services)


# Later reports merge into the attempt and reclassify it

def test_a_later_charge_failed_blocks_what_the_pay_answer_called_a_generic_decline(
        client, services, stub):
    # Stripe's excessive-retry block reaches the API caller as decline_code=generic_decline;
    # only the charge's outcome says what it is.
    stub.pay_results.append(Decline("generic_decline", network_decline_code=None))
    deliver(client, services, failed_event(services))
    run_next_retry(services)
    retry_attempt = attempts(services)[-1]
    assert (retry_attempt.by, retry_attempt.decline_class) == ("engine", "retry_limited")
    assert len(live(services, ActionKind.retry)) == 1

    deliver(client, services, p.charge_failed_event(
        p.LATEST, charge_id=retry_attempt.stripe_charge_id, decline_code=None,
        outcome_type="blocked", network_status="not_sent_to_network",
        overrides={"outcome": {"type": "blocked", "reason": "previously_declined_do_not_retry",
                               "network_status": "not_sent_to_network", "risk_level": "normal",
                               "advice_code": None, "network_advice_code": None,
                               "network_decline_code": None, "seller_message": "Blocked"}},
        created=services.clock.now()))

    merged = attempts(services)[-1]
    assert merged.id == retry_attempt.id and len(attempts(services)) == 2
    assert (merged.decline_code, merged.outcome_reason, merged.outcome_type) == (
        "generic_decline", "previously_declined_do_not_retry", "blocked")
    assert merged.decline_class == "new_payment_method"
    assert live(services, ActionKind.retry) == []
    assert the_case(services).waiting_for == "new_card"


def test_a_later_report_with_an_advice_code_stops_the_retries(client, services, stub):
    stub.first_decline = Decline("do_not_honor", network_decline_code=None)
    deliver(client, services, failed_event(services))
    assert len(live(services, ActionKind.retry)) == 1

    deliver(client, services, p.payment_intent_failed_event(
        p.LATEST, code="card_declined", decline_code="do_not_honor", network_decline_code=None,
        advice_code="do_not_try_again", created=services.clock.now()))

    (attempt,) = attempts(services)
    assert (attempt.advice_code, attempt.decline_class) == ("do_not_try_again", "stop")
    assert live(services, ActionKind.retry) == []


def test_a_later_report_never_lifts_a_stop(client, services, stub):
    stub.first_decline = Decline("stolen_card", network_decline_code=None)
    deliver(client, services, failed_event(services))
    deliver(client, services, p.payment_intent_failed_event(
        p.LATEST, code="card_declined", decline_code="generic_decline", network_decline_code=None,
        advice_code="try_again_later", created=services.clock.now()))

    (attempt,) = attempts(services)
    assert (attempt.decline_code, attempt.decline_class) == ("stolen_card", "stop")
    assert live(services, ActionKind.retry) == []


def test_network_codes_of_a_later_report_reclassify_the_attempt(client, services, stub):
    stub.first_decline = Decline("generic_decline", network_decline_code=None)
    deliver(client, services, failed_event(services))
    assert len(live(services, ActionKind.retry)) == 1

    deliver(client, services, p.charge_failed_event(
        p.LATEST, decline_code="generic_decline", network_decline_code="R1",
        created=services.clock.now()))

    (attempt,) = attempts(services)
    assert (attempt.network_decline_code, attempt.decline_class) == ("R1", "stop")
    assert live(services, ActionKind.retry) == []


# Reconcile declines stop and alert

def test_a_duplicate_transaction_stops_and_raises_an_alert(client, services, stub, caplog):
    stub.first_decline = Decline("duplicate_transaction", network_decline_code=None)
    with caplog.at_level(logging.ERROR, logger="recovery.engine"):
        deliver(client, services, failed_event(services))

    case = the_case(services)
    assert case.waiting_for == "reconcile"
    assert live(services, ActionKind.retry) == []
    assert "card_update_request" not in notices(services)
    alerts = [r for r in caplog.records if r.getMessage() == RECONCILE_ALERT]
    assert len(alerts) == 1 and alerts[0].alert == "decline_reconcile"


# The classification decides what the customer is told

def test_a_limited_decline_that_runs_out_asks_for_a_new_card(client, services, stub):
    stub.first_decline = Decline("do_not_honor", network_decline_code="05")
    stub.pay_results.extend([Decline("do_not_honor", network_decline_code="05")] * 3)
    deliver(client, services, failed_event(services))
    for _ in range(3):
        run_next_retry(services)

    case = the_case(services)
    assert case.waiting_for == "new_card"
    assert live(services, ActionKind.retry) == []
    assert "card_update_request" in notices(services)


def test_call_issuer_tells_the_customer(client, services, stub):
    stub.first_decline = Decline("call_issuer", network_decline_code="01")
    deliver(client, services, failed_event(services))

    assert len(live(services, ActionKind.retry)) == 1
    # Told at once, then the default sequence's reminder (day 7).
    assert notices(services) == ["payment_failed", "reminder"]


def test_a_radar_block_does_not_ask_the_customer_for_a_card(client, services, stub):
    stub.first_decline = Decline("merchant_blacklist", network_decline_code=None)
    deliver(client, services, failed_event(services))

    assert the_case(services).waiting_for == "new_card"
    assert live(services, ActionKind.retry) == []
    assert notices(services) == []
