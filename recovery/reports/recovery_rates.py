"""Recovery rate with a fixed denominator, overall and per group, by count and by amount.

The cohort, "recovered within N days" and the currency rule are defined in ``cohort``; the
groups in ``groups``. Each row's denominator is the cohort's cases in that group, except for
``attempt_number``, where every row's denominator is the whole cohort (only recovered cases
have an attempt number), so its rows add up to the overall rate.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func, select, true
from sqlmodel import Session

from models import ChargeAttempt, RecoveryCase
from recovery.errors import InvalidReportQuery
from recovery.reports.cohort import (
    Period,
    chosen_currency,
    cohort_totals,
    in_cohort,
    recovered_within,
    share,
)
from recovery.reports.groups import Grouping, group_key
from recovery.reports.tables import ReportTable

ALL = "all"
NO_SUCCESSFUL_CHARGE = "none"


@dataclass(frozen=True)
class RateRow:
    group: str
    cases: int
    recovered: int
    currency: str | None  # of the two amounts
    amount_due: int  # minor units
    recovered_amount: int

    @property
    def rate(self) -> float:
        return share(self.recovered, self.cases)

    @property
    def amount_rate(self) -> float:
        return share(self.recovered_amount, self.amount_due)


@dataclass(frozen=True)
class RecoveryRates:
    account_id: str
    period: Period
    by: Grouping | None
    currency: str | None
    total: RateRow
    rows: tuple[RateRow, ...]  # the total alone when not grouped

    def table(self) -> ReportTable:
        return ReportTable(
            ("group", "cases", "recovered", "rate", "currency", "amount_due", "recovered_amount",
             "amount_rate"),
            tuple((r.group, r.cases, r.recovered, r.rate, r.currency, r.amount_due,
                   r.recovered_amount, r.amount_rate) for r in self.rows))


def recovery_rate(session: Session, account_id: str, period: Period, *,
                  by: Grouping | str | None = None, currency: str | None = None) -> RecoveryRates:
    """The account's recovery rate over ``period``, grouped ``by`` one dimension or not at all;
    amounts in ``currency`` (default: the period's main currency)."""
    grouping = _grouping(by)
    currency = chosen_currency(session, account_id, period, currency)
    totals = cohort_totals(session, account_id, period, currency)
    total = RateRow(ALL, totals.cases, totals.recovered, currency, totals.amount_due,
                    totals.recovered_amount)
    if grouping is None:
        rows = (total,)
    elif grouping is Grouping.attempt_number:
        rows = _by_attempt_number(session, account_id, period, total)
    else:
        rows = _grouped(session, account_id, period, grouping, currency)
    return RecoveryRates(account_id, period, grouping, currency, total, rows)


def _grouping(by: Grouping | str | None) -> Grouping | None:
    if by is None or isinstance(by, Grouping):
        return by
    try:
        return Grouping(by)
    except ValueError:
        choices = ", ".join(g.value for g in Grouping)
        raise InvalidReportQuery(f"unknown grouping {by!r}; one of: {choices}") from None


def _grouped(session: Session, account_id: str, period: Period, grouping: Grouping,
             currency: str | None) -> tuple[RateRow, ...]:
    recovered = recovered_within(period)
    cases = (select(group_key(grouping, period).label("grp"),
                    case((recovered, 1), else_=0).label("recovered"),
                    RecoveryCase.currency, RecoveryCase.amount_due)
             .where(*in_cohort(account_id, period)).subquery())
    # Grouped by currency, each row's amounts are in its own currency.
    of_currency = true() if grouping is Grouping.currency else cases.c.currency == currency
    query = (select(cases.c.grp, func.count(), func.sum(cases.c.recovered),
                    func.sum(case((of_currency, cases.c.amount_due), else_=0)),
                    func.sum(case((of_currency & (cases.c.recovered == 1), cases.c.amount_due),
                                  else_=0)))
             .group_by(cases.c.grp))
    # Sorted here, not by the database, whose text collation differs between SQLite and
    # PostgreSQL.
    return tuple(sorted(
        (RateRow(str(group), int(count), int(recovered or 0),
                 group if grouping is Grouping.currency else currency, int(due or 0),
                 int(recovered_due or 0))
         for group, count, recovered, due, recovered_due in session.execute(query)),
        key=lambda row: row.group))


def _by_attempt_number(session: Session, account_id: str, period: Period,
                       total: RateRow) -> tuple[RateRow, ...]:
    """Recovered cases by the number of the attempt that recovered them; each row's
    denominator is the whole cohort."""
    paid_at = (select(func.min(ChargeAttempt.attempted_at))
               .where(ChargeAttempt.case_id == RecoveryCase.id, ChargeAttempt.succeeded.is_(True))
               .correlate(RecoveryCase).scalar_subquery())
    number = (select(func.count()).select_from(ChargeAttempt)
              .where(ChargeAttempt.case_id == RecoveryCase.id,
                     ChargeAttempt.attempted_at <= paid_at)
              .correlate(RecoveryCase).scalar_subquery())
    numbered = (select(number.label("number"), RecoveryCase.currency, RecoveryCase.amount_due)
                .where(*in_cohort(account_id, period), recovered_within(period)).subquery())
    query = (select(numbered.c.number, func.count(),
                    func.sum(case((numbered.c.currency == total.currency, numbered.c.amount_due),
                                  else_=0)))
             .group_by(numbered.c.number).order_by(numbered.c.number))
    rows = [RateRow(str(number) if number else NO_SUCCESSFUL_CHARGE, total.cases, int(count),
                    total.currency, total.amount_due, int(amount or 0))
            for number, count, amount in session.execute(query)]
    # Numbered rows in order, then the cases no charge recovered.
    return tuple(sorted(rows, key=lambda row: row.group == NO_SUCCESSFUL_CHARGE))

