"""Finding an account's recovery cases: a text search on the invoice and customer ids, and
filters on status, what the case waits for, the last decline class and the card brand; newest
first, a page at a time. Read-only, always within one account."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, or_
from sqlmodel import select

from models import RecoveryCase
from recovery.runtime.db import SessionFactory

MAX_PAGE = 200


@dataclass(frozen=True)
class CaseFilters:
    """Each filter left empty (None or "") matches every case."""

    q: str | None = None  # part of the invoice or customer id, in any case
    status: str | None = None
    waiting_for: str | None = None
    decline_class: str | None = None  # of the case's latest decline
    card_brand: str | None = None  # of the card on file
    first_failed_from: datetime | None = None  # inclusive
    first_failed_to: datetime | None = None  # exclusive


@dataclass(frozen=True)
class CaseRow:
    invoice_id: str
    customer_id: str | None
    amount_due: int  # minor units
    currency: str
    status: str
    waiting_for: str
    decline_class: str | None
    card_brand: str | None
    engine_retries: int
    first_failed_at: datetime
    closed_at: datetime | None
    last_reason: str | None


@dataclass(frozen=True)
class CasePage:
    rows: list[CaseRow]
    total: int  # matching cases, all pages
    offset: int
    limit: int


@dataclass(frozen=True)
class FilterChoices:
    """The values each filter can take in the account's cases, for a form's lists."""

    statuses: list[str] = field(default_factory=list)
    waiting_for: list[str] = field(default_factory=list)
    decline_classes: list[str] = field(default_factory=list)
    card_brands: list[str] = field(default_factory=list)


def search_cases(sessions: SessionFactory, account_id: str, filters: CaseFilters, *,
                 offset: int = 0, limit: int = 50) -> CasePage:
    limit = max(1, min(limit, MAX_PAGE))
    offset = max(0, offset)
    conditions = _conditions(account_id, filters)
    query = (select(RecoveryCase).where(*conditions)
             .order_by(RecoveryCase.first_failed_at.desc(), RecoveryCase.id.desc())
             .offset(offset).limit(limit))
    with sessions() as session:
        total = session.exec(select(func.count()).select_from(RecoveryCase)
                             .where(*conditions)).one()
        rows = [_row(case) for case in session.exec(query)]
    return CasePage(rows, int(total), offset, limit)


def filter_choices(sessions: SessionFactory, account_id: str) -> FilterChoices:
    with sessions() as session:
        def distinct(column) -> list[str]:
            found = session.exec(select(column).where(RecoveryCase.account_id == account_id,
                                                      column.is_not(None)).distinct())
            return sorted(str(value) for value in found)

        return FilterChoices(distinct(RecoveryCase.status), distinct(RecoveryCase.waiting_for),
                             distinct(RecoveryCase.last_decline_class),
                             distinct(RecoveryCase.card_brand))


def _conditions(account_id: str, filters: CaseFilters) -> list:
    conditions = [RecoveryCase.account_id == account_id]
    text = (filters.q or "").strip().lower()
    if text:
        # A literal substring: the LIKE wildcards a user types mean themselves (autoescape).
        conditions.append(or_(
            func.lower(RecoveryCase.stripe_invoice_id).contains(text, autoescape=True),
            func.lower(RecoveryCase.stripe_customer_id).contains(text, autoescape=True)))
    for column, wanted in ((RecoveryCase.status, filters.status),
                           (RecoveryCase.waiting_for, filters.waiting_for),
                           (RecoveryCase.last_decline_class, filters.decline_class),
                           (RecoveryCase.card_brand, filters.card_brand)):
        if wanted:
            conditions.append(column == wanted)
    if filters.first_failed_from is not None:
        conditions.append(RecoveryCase.first_failed_at >= filters.first_failed_from)
    if filters.first_failed_to is not None:
        conditions.append(RecoveryCase.first_failed_at < filters.first_failed_to)
    return conditions


def _row(case: RecoveryCase) -> CaseRow:
    return CaseRow(case.stripe_invoice_id, case.stripe_customer_id, case.amount_due,
                   case.currency, case.status, case.waiting_for, case.last_decline_class,
                   case.card_brand, case.engine_retries, case.first_failed_at, case.closed_at,
                   case.last_reason)
