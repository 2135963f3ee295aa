"""How the cohort's recovered cases were recovered: by the engine's retry, a retry on an updated
card, the customer paying, Stripe's own retry, or an accepted offer (``recovery_case.
recovered_by``; ``unknown`` when not recorded). Counts and amounts; definitions in ``cohort``."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func
from sqlmodel import Session

from models import RecoveryCase
from recovery.reports.cohort import UNKNOWN, Period, recovered_within, share
from recovery.reports.dialect import prepare
from recovery.reports.tables import ReportTable
from recovery.reports.tallies import by_key, fold, main_currency_of, tally


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
    prepare(session)
    how = func.coalesce(RecoveryCase.recovered_by, UNKNOWN)
    tallies = tally(session, account_id, period, case((recovered_within(period), how)))
    currency = currency.strip().lower() if currency else main_currency_of(tallies)
    totals = fold(tallies, currency)
    rows = []
    for name, group in sorted(by_key(tallies, lambda key: key is not None).items()):
        figures = fold(group, currency)
        rows.append(RecoveredByRow(
            str(name), figures.recovered, share(figures.recovered, totals.recovered), currency,
            figures.recovered_amount, share(figures.recovered_amount, totals.recovered_amount)))
    return RecoveredByShares(account_id, period, currency, totals.cases, totals.recovered,
                             totals.recovered_amount, tuple(rows))
