"""Attempts (Stripe's and the engine's) and messages per recovery.

Two views: per recovered case (the attempts and messages on the cases recovered within N days,
divided by those cases: what one recovery took), and per recovery over the whole cohort (every
attempt and message on the cohort's cases, divided by the recoveries: what one recovery cost,
the attempts on cases never recovered included). Messages are counted as ``cohort`` says: sent
while the case was open.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, literal_column, select
from sqlmodel import Session

from models import ChargeAttempt, Message, RecoveryCase
from recovery.reports.cohort import (
    Period,
    case_id_bounds,
    count_where,
    counted_message,
    in_cohort,
    recovered_within,
    share,
)
from recovery.reports.dialect import prepare
from recovery.reports.tables import ReportTable
from recovery.reports.tallies import fold, tally


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
    prepare(session)
    cohort, recovered = in_cohort(account_id, period), recovered_within(period)
    totals = fold(tally(session, account_id, period, literal_column("1")), None)
    bounds = case_id_bounds(session, account_id, period)
    by_engine = ChargeAttempt.by == "engine"
    attempts = session.execute(
        select(func.count(), count_where(by_engine), count_where(recovered),
               count_where(recovered & by_engine))
        .select_from(ChargeAttempt).join(RecoveryCase, ChargeAttempt.case_id == RecoveryCase.id)
        .where(*cohort, ChargeAttempt.case_id.between(*bounds))).one()
    messages = session.execute(
        select(func.count(), count_where(recovered))
        .select_from(Message).join(RecoveryCase, Message.case_id == RecoveryCase.id)
        .where(*cohort, counted_message(), Message.case_id.between(*bounds))).one()
    (all_attempts, engine, on_recovered, engine_on_recovered) = (int(v or 0) for v in attempts)
    all_messages, messages_on_recovered = (int(v or 0) for v in messages)
    return Effort(account_id, period, totals.cases, totals.recovered, all_attempts, engine,
                  all_messages, on_recovered, engine_on_recovered, messages_on_recovered)
