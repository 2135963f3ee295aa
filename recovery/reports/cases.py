"""Read-only views of recovery cases for operators: a list, and one case's timeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import select

from models import ChargeAttempt, Message, Offer, RecoveryCase, ScheduledAction
from recovery.errors import NotFound
from recovery.runtime.db import SessionFactory


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    what: str
    detail: str
    explanation: dict | None = None  # a retry's: why its time was chosen


def list_cases(sessions: SessionFactory, *, status: str | None = None,
               limit: int = 50, account_id: str | None = None) -> list[RecoveryCase]:
    """The newest cases (of ``account_id``, or of every account for the operator's CLI)."""
    query = select(RecoveryCase).order_by(RecoveryCase.id.desc()).limit(limit)
    if status:
        query = query.where(RecoveryCase.status == status)
    if account_id is not None:
        query = query.where(RecoveryCase.account_id == account_id)
    with sessions() as session:
        return list(session.exec(query))


def case_timeline(sessions: SessionFactory, invoice_id: str, *,
                  account_id: str | None = None) -> tuple[RecoveryCase, list[TimelineEntry]]:
    """The case with its attempts, declines, reasons, actions, messages and offers in time
    order. With ``account_id``, another account's invoice is NotFound like a missing one."""
    query = select(RecoveryCase).where(RecoveryCase.stripe_invoice_id == invoice_id)
    if account_id is not None:
        query = query.where(RecoveryCase.account_id == account_id)
    with sessions() as session:
        case = session.exec(query).first()
        if case is None:
            raise NotFound(f"no recovery case for invoice {invoice_id}")
        entries = [_attempt_entry(a) for a in _of_case(session, ChargeAttempt, case.id)]
        entries += [_action_entry(a) for a in _of_case(session, ScheduledAction, case.id)]
        entries += [_message_entry(m) for m in _of_case(session, Message, case.id)]
        entries += [_offer_entry(o) for o in _of_case(session, Offer, case.id)]
    return case, sorted(entries, key=lambda e: e.at)


def _of_case(session, table, case_id: int) -> list:
    return list(session.exec(select(table).where(table.case_id == case_id)))


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


def _message_entry(message: Message) -> TimelineEntry:
    detail = message.subject or ""
    if message.error:
        detail = f"{detail} ({message.error})".strip()
    return TimelineEntry(message.sent_at or message.created_at,
                         f"message {message.kind} by {message.channel} [{message.status}]",
                         detail)


def _offer_entry(offer: Offer) -> TimelineEntry:
    what = f"{offer.percent_off}% off" if offer.kind == "discount" else "pause"
    return TimelineEntry(offer.shown_at, f"offer {offer.kind} [{offer.status}]",
                         f"{what} for {offer.months} months, shown in "
                         f"{offer.message_kind or 'a message'}")
