"""Read-only views of recovery cases for operators: a list, and one case's timeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import select

from models import ChargeAttempt, RecoveryCase, ScheduledAction
from recovery.errors import NotFound
from recovery.runtime.db import SessionFactory


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    what: str
    detail: str
    explanation: dict | None = None  # a retry's: why its time was chosen


def list_cases(sessions: SessionFactory, *, status: str | None = None,
               limit: int = 50) -> list[RecoveryCase]:
    query = select(RecoveryCase).order_by(RecoveryCase.id.desc()).limit(limit)
    if status:
        query = query.where(RecoveryCase.status == status)
    with sessions() as session:
        return list(session.exec(query))


def case_timeline(sessions: SessionFactory, invoice_id: str) -> tuple[RecoveryCase, list]:
    """The case with its attempts, declines, reasons and actions in time order."""
    with sessions() as session:
        case = session.exec(
            select(RecoveryCase).where(RecoveryCase.stripe_invoice_id == invoice_id)).first()
        if case is None:
            raise NotFound(f"no recovery case for invoice {invoice_id}")
        attempts = session.exec(select(ChargeAttempt).where(ChargeAttempt.case_id == case.id))
        actions = session.exec(select(ScheduledAction).where(ScheduledAction.case_id == case.id))
        entries = [_attempt_entry(a) for a in attempts] + [_action_entry(a) for a in actions]
    return case, sorted(entries, key=lambda e: e.at)


def _attempt_entry(attempt: ChargeAttempt) -> TimelineEntry:
    if attempt.succeeded:
        return TimelineEntry(attempt.attempted_at, f"charge by {attempt.by}", "paid")
    code = attempt.decline_code or attempt.failure_code or "declined"
    card = f"{attempt.card_brand or 'card'} {attempt.card_fingerprint or '?'}"
    detail = f"{code} ({attempt.decline_class or 'unclassified'}) on {card}: {attempt.reason or ''}"
    return TimelineEntry(attempt.attempted_at, f"charge by {attempt.by}", detail.rstrip(": "))


def _action_entry(action: ScheduledAction) -> TimelineEntry:
    result = f" -> {action.result}" if action.result else ""
    decision = (action.params or {}).get("decision") or {}
    return TimelineEntry(action.due_at, f"{action.kind} [{action.status}]",
                         f"{action.reason}{result}", decision.get("explanation") or None)
