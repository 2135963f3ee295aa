"""Attempts (Stripe's and the engine's) and messages per recovery.

Two views: per recovered case (the attempts and messages on the cases recovered within N days,
divided by those cases: what one recovery took), and per recovery over the whole cohort (every
attempt and message on the cohort's cases, divided by the recoveries: what one recovery cost,
the attempts on cases never recovered included). Messages are counted as ``cohort`` says: sent
while the case was open.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, case, func, select
from sqlmodel import Session

from models import RecoveryCase
from recovery.reports.cohort import Period, count_where, in_cohort, recovered_within, share
from recovery.reports.dialect import prepare
from recovery.reports.tables import ReportTable


@dataclass(frozen=True)
class Effort:
    account_id: str
    period: Period
    cases: int
    recovered: int
    attempts: int  # on every cohort case
    engine_attempts: int
    messages: int
    attempts_on_recovered: int  # on the recovered cases
    engine_attempts_on_recovered: int
    messages_on_recovered: int

    @property
    def attempts_per_recovered_case(self) -> float:
        return share(self.attempts_on_recovered, self.recovered)

    @property
    def engine_attempts_per_recovered_case(self) -> float:
        return share(self.engine_attempts_on_recovered, self.recovered)

    @property
    def messages_per_recovered_case(self) -> float:
        return share(self.messages_on_recovered, self.recovered)

    @property
    def attempts_per_recovery(self) -> float:
        return share(self.attempts, self.recovered)

    @property
    def messages_per_recovery(self) -> float:
        return share(self.messages, self.recovered)

    def table(self) -> ReportTable:
        names = ("cases", "recovered", "attempts", "engine_attempts", "messages",
                 "attempts_on_recovered", "engine_attempts_on_recovered",
                 "messages_on_recovered", "attempts_per_recovered_case",
                 "engine_attempts_per_recovered_case", "messages_per_recovered_case",
                 "attempts_per_recovery", "messages_per_recovery")
        return ReportTable(names, (tuple(getattr(self, name) for name in names),))


def effort_per_recovery(session: Session, account_id: str, period: Period) -> Effort:
    """Read off the cohort's cases: each keeps its attempt and message counts
    (``recovery/engine/case_tallies.py``)."""
    prepare(session)
    recovered = recovered_within(period)
    cases, recoveries, *sums = (int(value or 0) for value in session.execute(
        select(func.count(), count_where(recovered),
               func.sum(RecoveryCase.attempt_count), func.sum(RecoveryCase.engine_attempt_count),
               func.sum(RecoveryCase.message_count),
               sum_where(recovered, RecoveryCase.attempt_count),
               sum_where(recovered, RecoveryCase.engine_attempt_count),
               sum_where(recovered, RecoveryCase.message_count))
        .where(*in_cohort(account_id, period))).one())
    return Effort(account_id, period, cases, recoveries, *sums)


def sum_where(condition: ColumnElement[bool], column) -> ColumnElement[int]:
    return func.sum(case((condition, column), else_=0))
