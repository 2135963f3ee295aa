"""Read-only views of an account's recovery cases: a filtered, paged list, and one case with its
attempts, messages, offers and scheduled actions, and all of them as one timeline.

Every function takes the account: a case of another account is not found, never shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import select

from models import ChargeAttempt, Message, Offer, RecoveryCase, ScheduledAction
from recovery.errors import NotFound
from recovery.runtime.db import SessionFactory

MAX_PAGE = 200


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    what: str
    detail: str
    explanation: dict | None = None  # a retry's: why its time was chosen


@dataclass(frozen=True)
class CaseFilters:
    """Each filter left as None holds for every case."""

    status: str | None = None
    waiting_for: str | None = None
    decline_class: str | None = None  # the latest decline's class
    customer_id: str | None = None
    q: str | None = None  # part of the invoice id, any case
    first_failed_from: datetime | None = None  # inclusive
    first_failed_to: datetime | None = None  # exclusive


@dataclass(frozen=True)
class CasePage:
    cases: list[RecoveryCase]
    next_cursor: int | None  # pass it back for the next page; None: this was the last


def list_cases(sessions: SessionFactory, *, account_id: str,
               filters: CaseFilters = CaseFilters(), limit: int = 50,
               cursor: int | None = None) -> CasePage:
    """The account's cases, newest first, ``limit`` (at most ``MAX_PAGE``) from ``cursor``."""
    limit = max(1, min(limit, MAX_PAGE))
    query = _filtered(select(RecoveryCase).where(RecoveryCase.account_id == account_id), filters)
    if cursor is not None:
        query = query.where(RecoveryCase.id < cursor)
    with sessions() as session:
        rows = list(session.exec(query.order_by(RecoveryCase.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    return CasePage(rows[:limit], rows[limit - 1].id if more else None)


def _filtered(query, filters: CaseFilters):
    equal = {RecoveryCase.status: filters.status, RecoveryCase.waiting_for: filters.waiting_for,
             RecoveryCase.last_decline_class: filters.decline_class,
             RecoveryCase.stripe_customer_id: filters.customer_id}
    for column, value in equal.items():
        if value is not None:
            query = query.where(column == value)
    if filters.q:
        query = query.where(func.lower(RecoveryCase.stripe_invoice_id).contains(
            filters.q.lower(), autoescape=True))
    if filters.first_failed_from is not None:
        query = query.where(RecoveryCase.first_failed_at >= filters.first_failed_from)
    if filters.first_failed_to is not None:
        query = query.where(RecoveryCase.first_failed_at < filters.first_failed_to)
    return query


@dataclass(frozen=True)
class CaseDetail:
    case: RecoveryCase
    attempts: list[ChargeAttempt]
    messages: list[Message]
    offers: list[Offer]
    actions: list[ScheduledAction]

    @property
    def timeline(self) -> list[TimelineEntry]:
        """Attempts, declines, messages, offers and actions with their reasons, in time order."""
        entries = [_attempt_entry(a) for a in self.attempts]
        entries += [_message_entry(m) for m in self.messages]
        entries += [_offer_entry(o) for o in self.offers]
        entries += [_action_entry(a) for a in self.actions]
        return sorted(entries, key=lambda e: e.at)


def case_detail(sessions: SessionFactory, *, account_id: str, invoice_id: str) -> CaseDetail:
    """The account's case for the invoice, with everything that happened to it."""
    with sessions() as session:
        case = session.exec(select(RecoveryCase).where(
            RecoveryCase.account_id == account_id,
            RecoveryCase.stripe_invoice_id == invoice_id)).first()
        if case is None:
            raise NotFound("no recovery case for this invoice")

        def rows(table, order):
            return list(session.exec(select(table).where(
                table.account_id == account_id, table.case_id == case.id)
                .order_by(order, table.id)))

        return CaseDetail(case, rows(ChargeAttempt, ChargeAttempt.attempted_at),
                          rows(Message, Message.created_at), rows(Offer, Offer.shown_at),
                          rows(ScheduledAction, ScheduledAction.due_at))


def case_timeline(sessions: SessionFactory, *, account_id: str,
                  invoice_id: str) -> tuple[RecoveryCase, list[TimelineEntry]]:
    """The case with its attempts, declines, messages, offers, reasons and actions in time
    order."""
    detail = case_detail(sessions, account_id=account_id, invoice_id=invoice_id)
    return detail.case, detail.timeline


def decision_of(action: ScheduledAction) -> dict:
    """How a retry's time was chosen (propensity, scorer, explanation); {} if nothing chose."""
    return (action.params or {}).get("decision") or {}


def _attempt_entry(attempt: ChargeAttempt) -> TimelineEntry:
    if attempt.succeeded:
        return TimelineEntry(attempt.attempted_at, f"charge by {attempt.by}", "paid")
    code = attempt.decline_code or attempt.failure_code or "declined"
    card = f"{attempt.card_brand or 'card'} {attempt.card_fingerprint or '?'}"
    detail = f"{code} ({attempt.decline_class or 'unclassified'}) on {card}: {attempt.reason or ''}"
    return TimelineEntry(attempt.attempted_at, f"charge by {attempt.by}", detail.rstrip(": "))


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


def _action_entry(action: ScheduledAction) -> TimelineEntry:
    result = f" -> {action.result}" if action.result else ""
    return TimelineEntry(action.due_at, f"{action.kind} [{action.status}]",
                         f"{action.reason}{result}",
                         decision_of(action).get("explanation") or None)
