"""The tallies a case keeps of its attempts and messages (``recovery/engine/case_tallies.py``):
right whatever order the reports arrive in, and equal to a recount from the rows after a whole
sandbox run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlmodel import Session

from models import CaseStatus, ChargeAttempt, RecoveryCase
from models.recovery_case import TALLY_COLUMNS
from recovery.engine.attempts import AttemptFacts, record_attempt
from recovery.engine.case_store import close_case
from recovery.engine.case_tallies import recount
from recovery.messaging.delivery import deliver, queue_message
from recovery.messaging.notifier import OutgoingMessage
from recovery.runtime.db import make_engine, transaction
from recovery.runtime.settings import Settings
from recovery.sandbox.policies import fixed
from recovery.sandbox.run import SimulationConfig
from recovery.sandbox.simulate import run_policy
from webhooks.facts import CardInfo, DeclineInfo

TALLIES = (*TALLY_COLUMNS, "last_message_at")


def open_case(services) -> int:
    now = services.clock.now()
    with transaction(services.sessions) as session:
        case = RecoveryCase(account_id=services.settings.account_id, stripe_invoice_id="in_t",
                            stripe_customer_id="cus_t", amount_due=900, first_failed_at=now,
                            created_at=now, updated_at=now)
        session.add(case)
        session.flush()
        return case.id


def record(services, case_id: int, hours: float, *, charge: str, by: str = "stripe",
           code: str | None = "insufficient_funds", brand: str = "visa", country: str = "US",
           succeeded: bool = False) -> None:
    at = services.clock.now() + timedelta(hours=hours)
    facts = AttemptFacts(
        at=at, charge_id=charge, intent_id=None, invoice_id="in_t",
        decline=None if succeeded else DeclineInfo(failure_code="card_declined",
                                                   decline_code=code),
        card=CardInfo(fingerprint="fp_t", brand=brand, country=country), amount=900,
        succeeded=succeeded, by=by)
    with transaction(services.sessions) as session:
        record_attempt(session, session.get(RecoveryCase, case_id), facts, at)


def tallies(services, case_id: int) -> dict:
    with services.sessions() as session:
        case = session.get(RecoveryCase, case_id)
        return {name: getattr(case, name) for name in TALLIES}


def test_attempts_arriving_out_of_order_keep_the_earliest_failure_first(services):
    case_id = open_case(services)
    record(services, case_id, 48, charge="ch_3", by="engine", succeeded=True)
    record(services, case_id, 24, charge="ch_2", by="engine", code="do_not_honor",
           brand="visa")
    record(services, case_id, 0, charge="ch_1", code="expired_card", brand="amex",
           country="GB")
    kept = tallies(services, case_id)
    assert (kept["first_decline_class"], kept["first_card_brand"],
            kept["first_card_country"]) == ("new_payment_method", "amex", "GB")
    assert (kept["attempt_count"], kept["engine_attempt_count"],
            kept["failed_attempt_count"], kept["paying_attempt_number"]) == (3, 2, 2, 3)


def test_a_later_report_of_the_same_charge_reclassifies_the_first_failure(services):
    case_id = open_case(services)
    record(services, case_id, 0, charge="ch_1", code="insufficient_funds")
    assert tallies(services, case_id)["first_decline_class"] == "retry"
    record(services, case_id, 0, charge="ch_1", code="stolen_card")
    kept = tallies(services, case_id)
    assert kept["first_decline_class"] == "stop"
    assert kept["attempt_count"] == 1  # merged, not a second attempt


@dataclass
class Accepting:
    def deliver(self, message: OutgoingMessage) -> None:
        pass


def send(services, case_id: int, channel: str, action_id: int) -> None:
    message = OutgoingMessage(
        account_id=services.settings.account_id, customer_id="cus_t", invoice_id="in_t",
        kind="payment_failed", channel=channel, subject="s", sent_at=services.clock.now(),
        message_id=f"<t{action_id}@test>")
    with transaction(services.sessions) as session:
        queued = queue_message(session, message, case_id=case_id, action_id=action_id,
                               resend_at=services.clock.now() + timedelta(hours=1))
    assert deliver(services.sessions, services.clock, Accepting(), queued, max_tries=3)


def test_messages_count_while_the_case_is_open_and_the_latest_names_the_channel(services):
    case_id = open_case(services)
    send(services, case_id, "email", 1)
    services.clock.advance(timedelta(hours=2))
    send(services, case_id, "sms", 2)
    assert (tallies(services, case_id)["message_count"],
            tallies(services, case_id)["last_message_channel"]) == (2, "sms")
    services.clock.advance(timedelta(hours=1))
    with transaction(services.sessions) as session:
        close_case(session, session.get(RecoveryCase, case_id), CaseStatus.recovered,
                   services.clock.now(), "retry")
    services.clock.advance(timedelta(minutes=5))
    send(services, case_id, "email", 3)  # the receipt, after the case closed
    kept = tallies(services, case_id)
    assert (kept["message_count"], kept["last_message_channel"]) == (2, "sms")


def test_after_a_whole_sandbox_run_every_case_keeps_what_a_recount_gives(tmp_path):
    database = tmp_path / "run.db"
    config = SimulationConfig(subscribers=200, days=40, warmup_days=5, seed=3)
    run_policy(config, fixed((1, 3, 5)), keep_database=database)
    engine = make_engine(f"sqlite:///{database}")
    try:
        with Session(engine) as session:
            cases = list(session.scalars(select(RecoveryCase).where(
                RecoveryCase.account_id == Settings.model_fields["account_id"].default)))
            kept = [{name: getattr(case, name) for name in TALLIES} for case in cases]
            for case in cases:
                recount(session, case)
            recounted = [{name: getattr(case, name) for name in TALLIES} for case in cases]
            session.rollback()
            attempts = session.scalar(select(ChargeAttempt.id).limit(1))
    finally:
        engine.dispose()
    assert attempts is not None and len(cases) > 10
    assert sum(k["message_count"] for k in kept) > 0
    assert sum(k["paying_attempt_number"] is not None for k in kept) > 0
    assert kept == recounted
