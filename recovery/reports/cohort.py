"""The cohort every recovery-rate report counts, and the SQL pieces the report families share.

The definitions, the same wherever a recovery rate is shown (CLI, API, simulation report):

- Cohort, the fixed denominator: the account's recovery cases (one per failed invoice) whose
  ``first_failed_at`` falls in ``[start, end)``. A case belongs to the period of its first
  failure only, so a period's denominator does not change as later attempts come and go.
- Recovered: ``status = 'recovered'`` and ``closed_at - first_failed_at <= within_days`` days
  (N). A case recovered later than that counts as not recovered; a case younger than N days may
  still become recovered, so a recent period's rate can still rise.
- Amounts: ``amount_due`` in minor units of one currency, never added across currencies. Counts
  cover every currency; amounts cover the currency asked for, by default the account's main
  currency in the period: the one most of the cohort's cases are in (alphabetical on a tie).
- The first failure: a case's earliest failed charge attempt (by ``attempted_at``, then id), the
  decline that opened the case. Decline class, card brand and card country are read from it
  (``unknown`` when no failed attempt is linked to the case). The engine keeps it, the attempt
  and message counts and the paying attempt on the case itself (its tallies,
  ``recovery/engine/case_tallies.py``), and the reports read them there.
- Messages counted: those a channel accepted (``status = 'sent'``) while the case was open (sent
  no later than it closed): the note confirming a recovery is not part of the dunning.

Aggregation happens in the database (GROUP BY); Python only reshapes a few rows. Read-only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlmodel import Session

from models import CaseStatus, Message, MessageStatus, RecoveryCase
from recovery.errors import InvalidReportQuery
from recovery.reports.dialect import DAY_SECONDS, seconds_between

MAX_WITHIN_DAYS = 365
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Period:
    """Cases whose first failure is in ``[start, end)``, judged ``within_days`` after it."""

    start: datetime
    end: datetime
    within_days: int = 30

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise InvalidReportQuery("a report period needs timezone-aware start and end")
        if self.start >= self.end:
            raise InvalidReportQuery(
                f"the period's start ({self.start.isoformat()}) must be before its end "
                f"({self.end.isoformat()})")
        if not 1 <= self.within_days <= MAX_WITHIN_DAYS:
            raise InvalidReportQuery(
                f"within_days must be between 1 and {MAX_WITHIN_DAYS}, not {self.within_days}")

    @classmethod
    def last_days(cls, now: datetime, days: int, within_days: int) -> Period:
        """The ``days`` days up to ``now``."""
        if days < 1:
            raise InvalidReportQuery(f"a period of {days} days is empty")
        try:
            return cls(now - timedelta(days=days), now, within_days)
        except OverflowError:
            raise InvalidReportQuery(f"{days} days before {now:%Y-%m-%d} is before year 1") \
                from None

    @property
    def window_seconds(self) -> int:
        return self.within_days * DAY_SECONDS


# The definitions above, as SQL.

def in_cohort(account_id: str, period: Period) -> tuple[ColumnElement[bool], ...]:
    return (RecoveryCase.account_id == account_id, RecoveryCase.first_failed_at >= period.start,
            RecoveryCase.first_failed_at < period.end)


def case_id_bounds(session: Session, account_id: str, period: Period) -> tuple[int, int]:
    """The smallest and largest id of the cohort's cases ((0, -1) for none). Joins to attempts
    and messages also ask for a case id within them: always true of the cohort's own, and since
    case ids grow with time, a period's cases are a narrow band, so the database reads that band
    of the attempts' or messages' index rather than all of them (measured: a third less time for
    a quarter of a million attempts, two thirds less for their messages)."""
    # ``id + 0``: on a bare ``min(id)`` PostgreSQL walks the primary key from the smallest id,
    # testing each case against the period (measured: 226,000 cases read to find the first).
    low, high = session.execute(
        select(func.min(RecoveryCase.id + 0), func.max(RecoveryCase.id + 0))
        .where(*in_cohort(account_id, period))).one()
    return (0, -1) if low is None else (int(low), int(high))


def recovered_within(period: Period) -> ColumnElement[bool]:
    return and_(RecoveryCase.status == CaseStatus.recovered.value,
                RecoveryCase.closed_at.is_not(None),
                seconds_between(RecoveryCase.closed_at, RecoveryCase.first_failed_at)
                <= period.window_seconds)


def counted_message() -> ColumnElement[bool]:
    """A message sent while its case (joined as ``RecoveryCase``) was open."""
    return and_(Message.status == MessageStatus.sent.value,
                or_(RecoveryCase.closed_at.is_(None), Message.sent_at <= RecoveryCase.closed_at))


def count_where(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.sum(case((condition, 1), else_=0))


def amount_where(condition: ColumnElement[bool], currency: str | None) -> ColumnElement[int]:
    return func.sum(case((and_(condition, RecoveryCase.currency == currency),
                          RecoveryCase.amount_due), else_=0))


def main_currency(session: Session, account_id: str, period: Period) -> str | None:
    """The currency most of the cohort's cases are in; None for an empty cohort."""
    return session.execute(
        select(RecoveryCase.currency).where(*in_cohort(account_id, period))
        .group_by(RecoveryCase.currency)
        .order_by(func.count().desc(), RecoveryCase.currency).limit(1)).scalar()


def chosen_currency(session: Session, account_id: str, period: Period,
                    currency: str | None) -> str | None:
    """``currency`` as stored (lower case), or the period's main currency."""
    if currency is not None:
        return currency.strip().lower()
    return main_currency(session, account_id, period)


def share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0
