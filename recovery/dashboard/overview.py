"""The overview's figures for one account and period, from the recovery-rate reports
(``recovery.reports``: the cohort, "recovered within N days" and the currency rule are defined
in ``recovery.reports.cohort``): recovery rate by count and amount, recovered revenue, the
recovery curve, and the rate by decline class, card brand, country, channel and policy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from recovery.dashboard.charts import RateBar
from recovery.reports.cohort import Period
from recovery.reports.recovery_curve import recovery_curve
from recovery.reports.recovery_rates import RecoveryRates, recovery_rate
from recovery.runtime.db import SessionFactory

DIMENSIONS = (("decline_class", "Decline class"), ("card_brand", "Card brand"),
              ("country", "Country"), ("channel", "Channel"), ("policy", "Policy"))


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
    currency: str | None  # of the amounts: the period's main currency
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


def account_overview(sessions: SessionFactory, account_id: str, period: Period) -> Overview:
    with sessions() as session:
        rates = recovery_rate(session, account_id, period)
        curve = recovery_curve(session, account_id, period)
        breakdowns = tuple(
            Breakdown(name, title, _bars(recovery_rate(session, account_id, period, by=name)))
            for name, title in DIMENSIONS)
    total = rates.total
    return Overview(period.start, period.end, period.within_days, total.cases, total.recovered,
                    rates.currency, total.amount_due, total.recovered_amount,
                    tuple(point.share for point in curve.points), breakdowns)


def _bars(rates: RecoveryRates) -> tuple[RateBar, ...]:
    return tuple(RateBar(row.group, row.cases, row.rate,
                         row.amount_rate if row.amount_due else None) for row in rates.rows)
