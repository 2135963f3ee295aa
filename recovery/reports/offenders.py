"""Biggest offenders: the customers with the most failed invoices in the period (cohort cases,
see ``cohort``), then the most outstanding, with their failed charges and what they still owe
(the amount due of their open cases, in one currency)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlmodel import Session

from models import CaseStatus, ChargeAttempt, RecoveryCase
from recovery.reports.cohort import (
    Period,
    amount_where,
    chosen_currency,
    count_where,
    in_cohort,
    recovered_within,
)
from recovery.reports.dialect import prepare
from recovery.reports.tables import ReportTable

DEFAULT_LIMIT = 20


@dataclass(frozen=True)
class Offender:
    stripe_customer_id: str
    failed_invoices: int  # the customer's cases in the cohort
    failed_attempts: int  # failed charges on those cases
    recovered: int  # within N days
    open_cases: int
    currency: str | None
    amount_outstanding: int  # the open cases' amount due, minor units of ``currency``


@dataclass(frozen=True)
class Offenders:
    account_id: str
    period: Period
    currency: str | None
    rows: tuple[Offender, ...]

    def table(self) -> ReportTable:
        return ReportTable(
            ("stripe_customer_id", "failed_invoices", "failed_attempts", "recovered",
             "open_cases", "currency", "amount_outstanding"),
            tuple((r.stripe_customer_id, r.failed_invoices, r.failed_attempts, r.recovered,
                   r.open_cases, r.currency, r.amount_outstanding) for r in self.rows))


def biggest_offenders(session: Session, account_id: str, period: Period, *,
                      currency: str | None = None, limit: int = DEFAULT_LIMIT) -> Offenders:
    prepare(session)
    currency = chosen_currency(session, account_id, period, currency)
    is_open = RecoveryCase.status == CaseStatus.open.value
    customer = RecoveryCase.stripe_customer_id
    failed = func.count().label("failed")
    outstanding = amount_where(is_open, currency).label("outstanding")
    top = session.execute(
        select(customer, failed, count_where(recovered_within(period)), count_where(is_open),
               outstanding)
        .where(*in_cohort(account_id, period), customer.is_not(None))
        .group_by(customer).order_by(failed.desc(), outstanding.desc(), customer)
        .limit(limit)).all()
    charges = _failed_charges(session, account_id, period, [row[0] for row in top])
    rows = tuple(Offender(who, int(cases), charges.get(who, 0), int(recovered or 0),
                          int(open_cases or 0), currency, int(owed or 0))
                 for who, cases, recovered, open_cases, owed in top)
    return Offenders(account_id, period, currency, rows)


def _failed_charges(session: Session, account_id: str, period: Period,
                    customers: list[str]) -> dict[str, int]:
    """Failed charges on the cohort cases of ``customers`` (only the top few are counted)."""
    if not customers:
        return {}
    customer = RecoveryCase.stripe_customer_id
    query = (select(customer, func.count()).select_from(ChargeAttempt)
             .join(RecoveryCase, ChargeAttempt.case_id == RecoveryCase.id)
             .where(*in_cohort(account_id, period), customer.in_(customers),
                    ~ChargeAttempt.succeeded)
             .group_by(customer))
    return {who: int(count) for who, count in session.execute(query)}
