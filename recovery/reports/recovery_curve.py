"""The recovery curve: the share of the cohort recovered by day d since its first failure, for
d = 0..N. "By day d" means within d whole days (``closed_at - first_failed_at <= d`` days), so
the last point equals the recovery rate by count (definitions in ``cohort``)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case
from sqlmodel import Session

from models import RecoveryCase
from recovery.reports.cohort import Period, recovered_within, share
from recovery.reports.dialect import days_rounded_up, prepare, seconds_between
from recovery.reports.tables import ReportTable
from recovery.reports.tallies import by_key, tally


@dataclass(frozen=True)
class CurvePoint:
    day: int
    recovered: int  # cases recovered within ``day`` days
    share: float  # of the cohort


@dataclass(frozen=True)
class RecoveryCurve:
    account_id: str
    period: Period
    cases: int
    points: tuple[CurvePoint, ...]  # day 0..N

    def table(self) -> ReportTable:
        return ReportTable(("day", "recovered", "share"),
                           tuple((p.day, p.recovered, p.share) for p in self.points))


def recovery_curve(session: Session, account_id: str, period: Period) -> RecoveryCurve:
    prepare(session)
    day = days_rounded_up(seconds_between(RecoveryCase.closed_at, RecoveryCase.first_failed_at))
    tallies = tally(session, account_id, period, case((recovered_within(period), day)))
    cases = sum(t.cases for t in tallies)
    per_day = {d: sum(t.cases for t in group)
               for d, group in by_key(tallies, lambda key: key is not None).items()}
    points, recovered = [], 0
    for d in range(period.within_days + 1):
        recovered += per_day.get(d, 0)
        points.append(CurvePoint(d, recovered, share(recovered, cases)))
    return RecoveryCurve(account_id, period, cases, tuple(points))
