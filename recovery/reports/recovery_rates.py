"""Recovery rate with a fixed denominator, overall and per group, by count and by amount.

The cohort, "recovered within N days" and the currency rule are defined in ``cohort``; the
groups in ``groups``. Each row's denominator is the cohort's cases in that group, except for
``attempt_number``, where every row's denominator is the whole cohort (only recovered cases
have an attempt number), so its rows add up to the overall rate. Grouped by ``currency``, each
row's amounts are in its own currency.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, case, func, literal_column
from sqlmodel import Session

from models import RecoveryCase
from recovery.errors import InvalidReportQuery
from recovery.reports.cohort import Period, recovered_within, share
from recovery.reports.dialect import prepare
from recovery.reports.groups import Grouping, group_key
from recovery.reports.tables import ReportTable
from recovery.reports.tallies import Figures, Tally, by_key, fold, main_currency_of, tally

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

    @classmethod
    def of(cls, group: str, figures: Figures) -> RateRow:
        return cls(group, figures.cases, figures.recovered, figures.currency,
                   figures.amount_due, figures.recovered_amount)


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
    grouping = parse_grouping(by)
    prepare(session)
    tallies = tally(session, account_id, period, _key(grouping, period))
    currency = currency.strip().lower() if currency else main_currency_of(tallies)
    total = RateRow.of(ALL, fold(tallies, currency))
    if grouping is None:
        rows = (total,)
    elif grouping is Grouping.attempt_number:
        rows = _by_attempt_number(tallies, total)
    else:
        rows = tuple(sorted(
            (RateRow.of(str(key), fold(group, key if grouping is Grouping.currency else currency))
             for key, group in by_key(tallies).items()), key=lambda row: row.group))
    return RecoveryRates(account_id, period, grouping, currency, total, rows)


def parse_grouping(by: Grouping | str | None) -> Grouping | None:
    if by is None or isinstance(by, Grouping):
        return by
    try:
        return Grouping(by)
    except ValueError:
        choices = ", ".join(g.value for g in Grouping)
        raise InvalidReportQuery(f"unknown grouping {by!r}; one of: {choices}") from None


def _key(grouping: Grouping | None, period: Period) -> ColumnElement:
    if grouping is None:
        return literal_column(f"'{ALL}'")
    if grouping is Grouping.attempt_number:
        return case((recovered_within(period), _recovering_attempt_number()), else_=None)
    return group_key(grouping, period)


def _recovering_attempt_number() -> ColumnElement[int]:
    """The attempt that paid, kept on the case (``recovery_case.paying_attempt_number``); 0
    when none succeeded."""
    return func.coalesce(RecoveryCase.paying_attempt_number, 0)


def _by_attempt_number(tallies: list[Tally], total: RateRow) -> tuple[RateRow, ...]:
    """Recovered cases by the attempt that recovered them, over the whole cohort."""
    rows = []
    for number, group in sorted(by_key(tallies, lambda key: key is not None).items()):
        recovered = fold(group, total.currency)
        rows.append(RateRow(str(number) if number else NO_SUCCESSFUL_CHARGE, total.cases,
                            recovered.recovered, total.currency, total.amount_due,
                            recovered.recovered_amount))
    # Numbered rows in order, then the cases no charge recovered.
    return tuple(sorted(rows, key=lambda row: row.group == NO_SUCCESSFUL_CHARGE))
