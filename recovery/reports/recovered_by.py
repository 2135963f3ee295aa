"""How the cohort's recovered cases were recovered: by the engine's retry, a retry on an updated
card, the customer paying, Stripe's own retry, or an accepted offer (``recovery_case.
recovered_by``; ``unknown`` when not recorded). Counts and amounts; definitions in ``cohort``."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, true
from sqlmodel import Session

from models import RecoveryCase
from recovery.reports.cohort import (
    UNKNOWN,
    Period,
    amount_where,
    chosen_currency,
    cohort_totals,
    in_cohort,
    recovered_within,
    share,
)
from recovery.reports.tables import ReportTable


@dataclass(frozen=True)
class RecoveredByRow:
    recovered_by: str
    recovered: int
    share: float  # of the recovered cases
    currency: str | None
    recovered_amount: int  # minor units
    amount_share: float  # of the recovered amount


@dataclass(frozen=True)
class RecoveredByShares:
    account_id: str
    period: Period
    currency: str | None
    cases: int
    recovered: int
    recovered_amount: int
    rows: tuple[RecoveredByRow, ...]

    def table(self) -> ReportTable:
        return ReportTable(
            ("recovered_by", "recovered", "share", "currency", "recovered_amount",
             "amount_share"),
            tuple((r.recovered_by, r.recovered, r.share, r.currency, r.recovered_amount,
                   r.amount_share) for r in self.rows))


def recovered_by_shares(session: Session, account_id: str, period: Period, *,
                        currency: str | None = None) -> RecoveredByShares:
    currency = chosen_currency(session, account_id, period, currency)
    totals = cohort_totals(session, account_id, period, currency)
    how = func.coalesce(RecoveryCase.recovered_by, UNKNOWN).label("how")
    query = (select(how, func.count(), amount_where(true(), currency))
             .where(*in_cohort(account_id, period), recovered_within(period))
             .group_by(how))
    rows = tuple(
        RecoveredByRow(str(name), int(count), share(int(count), totals.recovered), currency,
                       int(amount or 0), share(int(amount or 0), totals.recovered_amount))
        for name, count, amount in sorted(session.execute(query)))
    return RecoveredByShares(account_id, period, currency, totals.cases, totals.recovered,
                             totals.recovered_amount, rows)
