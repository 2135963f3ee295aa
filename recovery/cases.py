"""Reading and writing recovery cases, their attempts and their scheduled actions.

Small queries the engine and the action runner share; no decisions are made here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, update
from sqlmodel import Session, select

from models import (
    ActionKind,
    ActionStatus,
    CaseStatus,
    ChargeAttempt,
    Message,
    RecoveryCase,
    ScheduledAction,
    WaitingFor,
)
from recovery.declines import Classification, classify_decline
from recovery.network_rules import AttemptRecord
from webhooks.facts import DeclineInfo

EXECUTED = (ActionStatus.claimed.value, ActionStatus.done.value)


def case_for_invoice(session: Session, account_id: str, invoice_id: str) -> RecoveryCase | None:
    return session.exec(
        select(RecoveryCase).where(RecoveryCase.account_id == account_id,
                                   RecoveryCase.stripe_invoice_id == invoice_id)
    ).first()


def open_cases(session: Session, account_id: str, *, customer_id: str | None = None,
               subscription_id: str | None = None) -> list[RecoveryCase]:
    query = select(RecoveryCase).where(RecoveryCase.account_id == account_id,
                                       RecoveryCase.status == CaseStatus.open.value)
    if customer_id is not None:
        query = query.where(RecoveryCase.stripe_customer_id == customer_id)
    if subscription_id is not None:
        query = query.where(RecoveryCase.stripe_subscription_id == subscription_id)
    return list(session.exec(query.order_by(RecoveryCase.id)))


def attempt_by_charge(
    session: Session, account_id: str, charge_id: str | None
) -> ChargeAttempt | None:
    if not charge_id:
        return None
    return session.exec(
        select(ChargeAttempt).where(ChargeAttempt.account_id == account_id,
                                    ChargeAttempt.stripe_charge_id == charge_id)
    ).first()


def case_for_payment_intent(session: Session, account_id: str, intent_id: str | None):
    if not intent_id:
        return None
    attempt = session.exec(
        select(ChargeAttempt).where(ChargeAttempt.account_id == account_id,
                                    ChargeAttempt.stripe_payment_intent_id == intent_id,
                                    ChargeAttempt.case_id.is_not(None))
    ).first()
    return session.get(RecoveryCase, attempt.case_id) if attempt else None


def case_attempts(session: Session, case_id: int) -> list[ChargeAttempt]:
    return list(session.exec(
        select(ChargeAttempt).where(ChargeAttempt.case_id == case_id)
        .order_by(ChargeAttempt.attempted_at, ChargeAttempt.id)
    ))


def card_history(session: Session, account_id: str, fingerprint: str | None) -> list[AttemptRecord]:
    """Every attempt on this card at this merchant (all invoices, Stripe's own included)."""
    if not fingerprint:
        return []
    rows = session.exec(
        select(ChargeAttempt).where(ChargeAttempt.account_id == account_id,
                                    ChargeAttempt.card_fingerprint == fingerprint)
    )
    return [to_record(row) for row in rows]


def to_record(row: ChargeAttempt) -> AttemptRecord:
    return AttemptRecord(
        card_fingerprint=row.card_fingerprint or "", at=row.attempted_at,
        succeeded=row.succeeded, classification=None if row.succeeded else classify_row(row),
        by=row.by if row.by in ("stripe", "engine") else "stripe",
    )


def classify_row(row: ChargeAttempt) -> Classification:
    return classify_decline(decline_of(row), row.card_brand)


def decline_of(row: ChargeAttempt) -> DeclineInfo:
    return DeclineInfo(
        failure_code=row.failure_code, decline_code=row.decline_code, advice_code=row.advice_code,
        network_decline_code=row.network_decline_code, network_advice_code=row.network_advice_code,
        outcome_type=row.outcome_type, outcome_reason=row.outcome_reason,
    )


def retries_done(session: Session, case_id: int) -> int:
    """Retries the engine has started (claimed or finished) for this case."""
    return session.exec(
        select(func.count()).select_from(ScheduledAction)
        .where(ScheduledAction.case_id == case_id, ScheduledAction.kind == ActionKind.retry.value,
               ScheduledAction.status.in_(EXECUTED))
    ).one()


def retry_in_flight(session: Session, case_id: int) -> bool:
    """A retry has been claimed and its outcome is not recorded yet."""
    return session.exec(
        select(func.count()).select_from(ScheduledAction)
        .where(ScheduledAction.case_id == case_id, ScheduledAction.kind == ActionKind.retry.value,
               ScheduledAction.status == ActionStatus.claimed.value)
    ).one() > 0


def is_own_retry(session: Session, case_id: int, idempotency_key: str | None) -> bool:
    """The event came from one of this case's retry calls (Stripe echoes the request's key)."""
    if not idempotency_key or not idempotency_key.startswith("recovery:"):
        return False
    action = session.exec(select(ScheduledAction).where(
        ScheduledAction.idempotency_key == idempotency_key)).first()
    return action is not None and action.case_id == case_id and \
        action.kind == ActionKind.retry.value and action.status in EXECUTED


def cancel_actions(session: Session, case_id: int, now: datetime,
                   kinds: Sequence[str] | None = None) -> int:
    statement = (
        update(ScheduledAction)
        .where(ScheduledAction.case_id == case_id,
               ScheduledAction.status == ActionStatus.scheduled.value)
        .values(status=ActionStatus.canceled.value, finished_at=now)
    )
    if kinds:
        statement = statement.where(ScheduledAction.kind.in_(list(kinds)))
    return session.execute(statement).rowcount


def schedule(session: Session, case: RecoveryCase, kind: ActionKind, due_at: datetime,
             reason: str, now: datetime, params: dict | None = None) -> ScheduledAction:
    action = ScheduledAction(account_id=case.account_id, case_id=case.id, kind=kind.value,
                             due_at=due_at, reason=reason, params=params, created_at=now)
    session.add(action)
    session.flush()
    # The key comes from our own row, so a retried call after a crash reuses it.
    action.idempotency_key = f"recovery:{action.id}"
    return action


def already_notified(session: Session, case_id: int, template: str) -> bool:
    actions = session.exec(
        select(ScheduledAction).where(ScheduledAction.case_id == case_id,
                                      ScheduledAction.kind == ActionKind.notify.value,
                                      ScheduledAction.status != ActionStatus.canceled.value)
    )
    return any((a.params or {}).get("template") == template for a in actions)


def close_case(session: Session, case: RecoveryCase, status: CaseStatus, now: datetime,
               recovered_by: str | None = None) -> None:
    case.status = status.value
    case.waiting_for = WaitingFor.nothing.value
    case.recovered_by = recovered_by
    case.closed_at = now
    case.updated_at = now
    cancel_actions(session, case.id, now)


def record_message(session: Session, case: RecoveryCase, action_id: int, message) -> bool:
    """Write the message row once per notify action; False if it was already sent."""
    if session.exec(select(Message).where(Message.action_id == action_id)).first():
        return False
    session.add(Message(account_id=case.account_id, case_id=case.id, action_id=action_id,
                        stripe_customer_id=case.stripe_customer_id, kind=message.kind,
                        channel=message.channel, subject=message.subject,
                        sent_at=message.sent_at))
    return True
