"""The overview's figures for one account and period: recovery rate by count and amount,
recovered revenue, the recovery curve, and the rate broken down by decline class, card brand,
country, channel and policy.

STAND-IN: until the recovery-rate reports land in ``recovery.reports`` (``recovery_rates``,
``recovery_curve``), the figures are counted here from the case list
(``recovery.reports.cases``), with the case's latest decline class and card standing in for its
first failure's, and country, channel and policy not known yet. The page only calls
``account_overview``: switching to the reports changes this module alone.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any  # the case list's rows

from recovery.dashboard.charts import RateBar
from recovery.reports.cases import MAX_PAGE, CaseFilters, list_cases
from recovery.runtime.db import SessionFactory

UNKNOWN = "unknown"
DIMENSIONS = (("decline_class", "Decline class"), ("card_brand", "Card brand"),
              ("country", "Country"), ("channel", "Channel"), ("policy", "Policy"))


@dataclass(frozen=True)
class OverviewPeriod:
    """Cases whose first failure is in ``[start, end)``, recovered within ``within_days``."""

    start: datetime
    end: datetime
    within_days: int

    @classmethod
    def last_days(cls, now: datetime, days: int, within_days: int) -> OverviewPeriod:
        return cls(now - timedelta(days=days), now, within_days)


@dataclass(frozen=True)
class Breakdown:
    dimension: str
    title: str
    bars: tuple[RateBar, ...]


@dataclass(frozen=True)
class Overview:
    start: datetime
    end: datetime
    within_days: int
    cases: int
    recovered: int
    currency: str | None  # of the amounts: the currency most of the cases are in
    amount_due: int
    recovered_amount: int
    curve: tuple[float, ...]  # share of the cases recovered by day 0..within_days
    breakdowns: tuple[Breakdown, ...]

    @property
    def rate(self) -> float:
        return self.recovered / self.cases if self.cases else 0.0

    @property
    def amount_rate(self) -> float:
        return self.recovered_amount / self.amount_due if self.amount_due else 0.0


def account_overview(sessions: SessionFactory, account_id: str,
                     period: OverviewPeriod) -> Overview:
    rows = list(_cases(sessions, account_id, period))
    days = [_days_to_recover(row, period.within_days) for row in rows]
    currency = Counter(row.currency for row in rows).most_common(1)[0][0] if rows else None
    in_currency = [(row, day) for row, day in zip(rows, days, strict=True)
                   if row.currency == currency]
    curve = tuple(sum(1 for day in days if day is not None and day <= d) / len(rows)
                  if rows else 0.0 for d in range(period.within_days + 1))
    return Overview(
        period.start, period.end, period.within_days, len(rows),
        sum(1 for day in days if day is not None), currency,
        sum(row.amount_due for row, _ in in_currency),
        sum(row.amount_due for row, day in in_currency if day is not None), curve,
        tuple(Breakdown(name, title, _bars(rows, days, currency, name))
              for name, title in DIMENSIONS))


def _cases(sessions: SessionFactory, account_id: str,
           period: OverviewPeriod) -> Iterator[Any]:
    filters = CaseFilters(first_failed_from=period.start, first_failed_to=period.end)
    cursor = None
    while True:
        page = list_cases(sessions, account_id=account_id, filters=filters, limit=MAX_PAGE,
                          cursor=cursor)
        yield from page.cases
        cursor = page.next_cursor
        if cursor is None:
            return


def _days_to_recover(row: Any, within_days: int) -> int | None:
    """Whole days (rounded up) from the first failure to the recovery; None if not recovered
    within the period's days."""
    if row.status != "recovered" or row.closed_at is None:
        return None
    elapsed = (row.closed_at - row.first_failed_at).total_seconds() / 86_400
    day = max(0, math.ceil(elapsed))
    return day if day <= within_days else None


def _group(row: Any, dimension: str) -> str:
    if dimension == "decline_class":
        return row.last_decline_class or UNKNOWN
    if dimension == "card_brand":
        return row.card_brand or UNKNOWN
    if dimension == "policy":
        return "default"
    return UNKNOWN


def _bars(rows: list[Any], days: list[int | None], currency: str | None,
          dimension: str) -> tuple[RateBar, ...]:
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for row, day in zip(rows, days, strict=True):
        counts = totals[_group(row, dimension)]
        counts[0] += 1
        counts[1] += day is not None
        if row.currency == currency:
            counts[2] += row.amount_due
            counts[3] += row.amount_due if day is not None else 0
    return tuple(RateBar(group, cases, recovered / cases, recovered_amount / due if due else 0.0)
                 for group, (cases, recovered, due, recovered_amount) in sorted(totals.items()))
