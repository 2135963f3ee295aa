"""``/v1/cases``: the caller's account's recovery cases, filtered and paged, and one case with its
timeline: attempts with their declines, messages, offers, and the scheduled actions with the
reason for each and, for a retry, how its time was chosen.

Messages are listed by kind, channel and delivery, without their bodies or addresses: a body
carries the customer's signed links (unsubscribe, card update), which act for the customer.
Cards are shown by brand, country and funding only; the engine never holds a card number.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from models import (
    CaseStatus,
    ChargeAttempt,
    Message,
    Offer,
    RecoveryCase,
    ScheduledAction,
    WaitingFor,
)
from recovery.accounts.tokens import Caller
from recovery.api.auth import require_read
from recovery.api.errors import ERROR_RESPONSES
from recovery.reports.cases import (
    MAX_PAGE,
    CaseFilters,
    TimelineEntry,
    case_detail,
    decision_of,
    list_cases,
)
from recovery.rules.declines import DeclineClass
from recovery.wiring import Services


class CaseSummary(BaseModel):
    invoice_id: str
    customer_id: str | None
    subscription_id: str | None
    amount_due: int  # minor units
    currency: str
    status: str
    waiting_for: str
    recovered_by: str | None
    last_decline_class: str | None
    last_reason: str | None
    engine_retries: int
    card_brand: str | None
    first_failed_at: datetime
    closed_at: datetime | None
    updated_at: datetime


class CaseList(BaseModel):
    cases: list[CaseSummary]
    next_cursor: int | None  # pass as ``cursor`` for the next page; null: the last page


class AttemptOut(BaseModel):
    attempted_at: datetime
    by: str  # stripe | engine
    succeeded: bool
    amount: int
    currency: str
    card_brand: str | None
    card_country: str | None
    card_funding: str | None
    payment_method_kind: str | None
    failure_code: str | None
    decline_code: str | None
    advice_code: str | None
    network_decline_code: str | None
    network_advice_code: str | None
    decline_class: str | None
    reason: str | None
    scorer_version: str | None


class MessageOut(BaseModel):
    kind: str
    channel: str
    status: str
    subject: str
    created_at: datetime
    sent_at: datetime | None
    tries: int
    error: str | None
    offer: dict[str, Any] | None


class OfferOut(BaseModel):
    kind: str
    percent_off: int
    months: int
    status: str
    message_kind: str | None
    shown_at: datetime
    accepted_at: datetime | None
    applied_at: datetime | None
    revenue_given_up: int
    recovered: bool


class ActionOut(BaseModel):
    kind: str
    status: str
    due_at: datetime
    reason: str
    template: str | None  # a message's
    tries: int
    last_error: str | None
    result: dict[str, Any] | None
    finished_at: datetime | None
    decision: dict[str, Any] | None  # a retry's: propensity, scorer, explanation


class TimelineEntryOut(BaseModel):
    at: datetime
    what: str
    detail: str
    explanation: dict[str, Any] | None


class CaseOut(CaseSummary):
    attempts: list[AttemptOut]
    messages: list[MessageOut]
    offers: list[OfferOut]
    actions: list[ActionOut]
    timeline: list[TimelineEntryOut]


def _summary(case: RecoveryCase) -> dict:
    return dict(invoice_id=case.stripe_invoice_id, customer_id=case.stripe_customer_id,
                subscription_id=case.stripe_subscription_id, amount_due=case.amount_due,
                currency=case.currency, status=case.status, waiting_for=case.waiting_for,
                recovered_by=case.recovered_by, last_decline_class=case.last_decline_class,
                last_reason=case.last_reason, engine_retries=case.engine_retries,
                card_brand=case.card_brand, first_failed_at=case.first_failed_at,
                closed_at=case.closed_at, updated_at=case.updated_at)


def _fields(row: Any, model: type[BaseModel]) -> dict:
    return {name: getattr(row, name) for name in model.model_fields if hasattr(row, name)}


def _attempt(row: ChargeAttempt) -> AttemptOut:
    return AttemptOut(**_fields(row, AttemptOut))


def _message(row: Message) -> MessageOut:
    return MessageOut(**_fields(row, MessageOut))


def _offer(row: Offer) -> OfferOut:
    return OfferOut(**_fields(row, OfferOut))


def _action(row: ScheduledAction) -> ActionOut:
    return ActionOut(kind=row.kind, status=row.status, due_at=row.due_at, reason=row.reason,
                     template=(row.params or {}).get("template"), tries=row.tries,
                     last_error=row.last_error, result=row.result, finished_at=row.finished_at,
                     decision=decision_of(row) or None)


def _entry(entry: TimelineEntry) -> TimelineEntryOut:
    return TimelineEntryOut(at=entry.at, what=entry.what, detail=entry.detail,
                            explanation=entry.explanation)


def _utc(moment: datetime | None) -> datetime | None:
    """A time given without an offset is taken as UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def build_cases_router(services: Services) -> APIRouter:
    router = APIRouter(prefix="/v1/cases", tags=["cases"], responses=ERROR_RESPONSES)

    @router.get("", response_model=CaseList)
    def read_cases(
        status: CaseStatus | None = None,
        waiting_for: WaitingFor | None = None,
        decline_class: DeclineClass | None = Query(None, description="the latest decline's"),
        customer_id: str | None = Query(None, max_length=255),
        q: str | None = Query(None, max_length=255, description="part of the invoice id"),
        first_failed_from: datetime | None = Query(None, description="inclusive"),
        first_failed_to: datetime | None = Query(None, description="exclusive"),
        limit: int = Query(50, ge=1, le=MAX_PAGE),
        cursor: int | None = Query(None, ge=1, description="the previous page's next_cursor"),
        caller: Caller = Depends(require_read),
    ) -> CaseList:
        filters = CaseFilters(
            status=status.value if status else None,
            waiting_for=waiting_for.value if waiting_for else None,
            decline_class=decline_class.value if decline_class else None,
            customer_id=customer_id, q=q, first_failed_from=_utc(first_failed_from),
            first_failed_to=_utc(first_failed_to))
        page = list_cases(services.sessions, account_id=caller.account_id, filters=filters,
                          limit=limit, cursor=cursor)
        return CaseList(cases=[CaseSummary(**_summary(case)) for case in page.cases],
                        next_cursor=page.next_cursor)

    @router.get("/{invoice_id}", response_model=CaseOut)
    def read_case(invoice_id: str, caller: Caller = Depends(require_read)) -> CaseOut:
        detail = case_detail(services.sessions, account_id=caller.account_id,
                             invoice_id=invoice_id)
        return CaseOut(**_summary(detail.case),
                       attempts=[_attempt(a) for a in detail.attempts],
                       messages=[_message(m) for m in detail.messages],
                       offers=[_offer(o) for o in detail.offers],
                       actions=[_action(a) for a in detail.actions],
                       timeline=[_entry(e) for e in detail.timeline])

    return router
