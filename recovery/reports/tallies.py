"""One pass over a period's cohort: its cases counted by a key and by currency, with how many were
recovered within N days and the amounts (``cohort`` defines them). Every recovery-rate figure
folds these few rows, so each report reads the cohort once, main currency included."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, case, func, select
from sqlmodel import Session

from models import RecoveryCase
from recovery.reports.cohort import Period, in_cohort, recovered_within, share


@dataclass(frozen=True)
class Tally:
    """The cohort's cases with one key, in one currency."""

    key: object
    currency: str
    cases: int
    recovered: int
    amount_due: int  # minor units of ``currency``
    recovered_amount: int


@dataclass(frozen=True)
class Figures:
    """Counts over every currency; amounts in ``currency`` only."""

    cases: int
    recovered: int
    currency: str | None
    amount_due: int
    recovered_amount: int

    @property
    def rate(self) -> float:
        return share(self.recovered, self.cases)

    @property
    def amount_rate(self) -> float:
        return share(self.recovered_amount, self.amount_due)


def tally(session: Session, account_id: str, period: Period,
          key: ColumnElement) -> list[Tally]:
    recovered = case((recovered_within(period), 1), else_=0)
    cases = (select(key.label("key"), recovered.label("recovered"), RecoveryCase.currency,
                    RecoveryCase.amount_due)
             .where(*in_cohort(account_id, period)).subquery())
    query = (select(cases.c.key, cases.c.currency, func.count(), func.sum(cases.c.recovered),
                    func.sum(cases.c.amount_due),
                    func.sum(cases.c.recovered * cases.c.amount_due))
             .group_by(cases.c.key, cases.c.currency))
    return [Tally(key, currency, int(count), int(recovered or 0), int(due or 0),
                  int(recovered_due or 0))
            for key, currency, count, recovered, due, recovered_due in session.execute(query)]


def main_currency_of(tallies: Iterable[Tally]) -> str | None:
    """The currency most cases are in (alphabetical first on a tie); None without cases."""
    cases: dict[str, int] = {}
    for t in tallies:
        cases[t.currency] = cases.get(t.currency, 0) + t.cases
    return min(cases, key=lambda currency: (-cases[currency], currency)) if cases else None


def fold(tallies: Iterable[Tally], currency: str | None) -> Figures:
    tallies = list(tallies)
    mine = [t for t in tallies if t.currency == currency]
    return Figures(sum(t.cases for t in tallies), sum(t.recovered for t in tallies), currency,
                   sum(t.amount_due for t in mine), sum(t.recovered_amount for t in mine))


def by_key(tallies: Iterable[Tally],
           keep: Callable[[object], bool] = lambda key: True) -> dict[object, list[Tally]]:
    grouped: dict[object, list[Tally]] = {}
    for t in tallies:
        if keep(t.key):
            grouped.setdefault(t.key, []).append(t)
    return grouped
