"""Open cases at risk: the cohort's open cases ranked by predicted recovery chance x amount due.

The chance is empirical, learned from the same cohort's closed cases (no number is hand-set):
among the closed cases whose first failure had the same decline class and that reached at least
as many failed attempts as the open case has had so far, the share recovered within N days. When
there is no such closed case: the same decline class at any number of attempts; then every closed
case of the cohort; with none at all the chance is unknown and those cases rank last, by amount.
Each row says which of these it used (``basis``) and over how many closed cases.

The scoring package's prior (``recovery/scoring/prior.py``) gives the chance of one attempt at one
hour, not the chance that a case is recovered at all, so it is not used here. Amounts are in one
currency (see ``cohort``): only the open cases in that currency are ranked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Float, Integer, String, and_, func, literal, select, union_all
from sqlmodel import Session

from models import CaseStatus, RecoveryCase
from recovery.reports.cohort import (
    UNKNOWN,
    Period,
    chosen_currency,
    count_where,
    in_cohort,
    recovered_within,
)
from recovery.reports.dialect import prepare
from recovery.reports.tables import ReportTable

DEFAULT_LIMIT = 50


@dataclass(frozen=True)
class Chance:
    value: float | None
    basis: str  # "decline class and attempts" | "decline class" | "all closed cases" | "none"
    similar_cases: int  # the closed cases it was learned from


@dataclass(frozen=True)
class AtRiskCase:
    case_id: int
    stripe_invoice_id: str
    stripe_customer_id: str | None
    first_failed_at: datetime
    decline_class: str
    failed_attempts: int
    currency: str
    amount_due: int
    chance: float | None
    expected_amount: float | None  # chance x amount_due, minor units
    basis: str
    similar_cases: int


@dataclass(frozen=True)
class AtRisk:
    account_id: str
    period: Period
    currency: str | None
    open_cases: int  # in that currency
    rows: tuple[AtRiskCase, ...]

    def table(self) -> ReportTable:
        return ReportTable(
            ("case_id", "stripe_invoice_id", "stripe_customer_id", "first_failed_at",
             "decline_class", "failed_attempts", "currency", "amount_due", "chance",
             "expected_amount", "basis", "similar_cases"),
            tuple((r.case_id, r.stripe_invoice_id, r.stripe_customer_id,
                   r.first_failed_at.isoformat(), r.decline_class, r.failed_attempts, r.currency,
                   r.amount_due, r.chance, r.expected_amount, r.basis, r.similar_cases)
                  for r in self.rows))


# (decline class, failed attempts, closed cases, recovered within N days)
History = list[tuple[str, int, int, int]]


def estimate_chance(history: History, decline_class: str, attempts_so_far: int) -> Chance:
    """The share recovered among the most similar closed cases there are (see the module)."""
    same_class = [(k, n, r) for c, k, n, r in history if c == decline_class]
    candidates = (
        ("decline class and attempts", [(n, r) for k, n, r in same_class if k >= attempts_so_far]),
        ("decline class", [(n, r) for _k, n, r in same_class]),
        ("all closed cases", [(n, r) for _c, _k, n, r in history]),
    )
    for basis, rows in candidates:
        cases = sum(n for n, _r in rows)
        if cases:
            return Chance(sum(r for _n, r in rows) / cases, basis, cases)
    return Chance(None, "none", 0)


def cases_at_risk(session: Session, account_id: str, period: Period, *,
                  currency: str | None = None, limit: int = DEFAULT_LIMIT) -> AtRisk:
    prepare(session)
    currency = chosen_currency(session, account_id, period, currency)
    history = closed_history(session, account_id, period)
    open_cases = _open_cases(account_id, period, currency).cte("open_cases")
    source, chance = _with_chances(history, open_cases)
    expected = (chance * open_cases.c.amount_due).label("expected")
    ranked = session.execute(
        select(open_cases, func.count().over().label("open_count")).select_from(source)
        .order_by(expected.desc().nulls_last(), open_cases.c.amount_due.desc(),
                  open_cases.c.id).limit(limit)).all()
    rows = tuple(_row(row, estimate_chance(history, row.decline_class, row.attempts))
                 for row in ranked)
    return AtRisk(account_id, period, currency, ranked[0].open_count if ranked else 0, rows)


def closed_history(session: Session, account_id: str, period: Period) -> History:
    """The cohort's closed cases by first decline class and failed attempts, with how many of
    them were recovered within N days."""
    closed = (select(_first_class().label("decline_class"),
                     RecoveryCase.failed_attempt_count.label("attempts"),
                     recovered_within(period).label("recovered"))
              .where(*in_cohort(account_id, period),
                     RecoveryCase.status != CaseStatus.open.value).subquery())
    query = (select(closed.c.decline_class, closed.c.attempts, func.count(),
                    count_where(closed.c.recovered))
             .group_by(closed.c.decline_class, closed.c.attempts))
    return [(str(c), int(k), int(n), int(r or 0)) for c, k, n, r in session.execute(query)]


def _open_cases(account_id: str, period: Period, currency: str | None):
    return (select(RecoveryCase.id, RecoveryCase.stripe_invoice_id,
                   RecoveryCase.stripe_customer_id, RecoveryCase.first_failed_at,
                   RecoveryCase.currency, RecoveryCase.amount_due,
                   _first_class().label("decline_class"),
                   RecoveryCase.failed_attempt_count.label("attempts"))
            .where(*in_cohort(account_id, period), RecoveryCase.status == CaseStatus.open.value,
                   RecoveryCase.currency == currency))


# The chances as small lookup tables the database joins, so that it ranks the open cases and
# only the top rows are read: one per decline class and attempts reached, one per decline
# class, and the chance over every closed case; each built with ``estimate_chance``.

def _exact_chances(history: History) -> list[tuple[str, int, float]]:
    reached: dict[str, int] = {}
    for c, k, _n, _r in history:
        reached[c] = max(reached.get(c, 0), k)
    return [(c, k, estimate_chance(history, c, k).value)
            for c, most in reached.items() for k in range(1, most + 1)]


def _class_chances(history: History) -> list[tuple[str, float]]:
    return [(c, estimate_chance(history, c, 0).value) for c in sorted({c for c, *_ in history})]


def _lookup(rows: list[tuple], names: tuple[str, ...], types: tuple, alias: str):
    return union_all(*(select(*(literal(value, kind).label(name)
                                for value, name, kind in zip(row, names, types, strict=True)))
                       for row in rows)).subquery(alias)


def _with_chances(history: History, open_cases):
    """The open cases joined to the lookups, and their chance: the most similar closed cases
    there are (as ``estimate_chance`` says)."""
    if not history:
        return open_cases, literal(None, Float())
    exact = _lookup(_exact_chances(history), ("decline_class", "attempts", "chance"),
                    (String(), Integer(), Float()), "exact_chance")
    by_class = _lookup(_class_chances(history), ("decline_class", "chance"),
                       (String(), Float()), "class_chance")
    source = (open_cases
              .outerjoin(exact, and_(exact.c.decline_class == open_cases.c.decline_class,
                                     exact.c.attempts == open_cases.c.attempts))
              .outerjoin(by_class, by_class.c.decline_class == open_cases.c.decline_class))
    overall = sum(r for *_, r in history) / sum(n for _c, _k, n, _r in history)
    return source, func.coalesce(exact.c.chance, by_class.c.chance, literal(overall, Float()))


def _first_class():
    return func.coalesce(RecoveryCase.first_decline_class, UNKNOWN)


def _row(row, chance: Chance) -> AtRiskCase:
    expected = None if chance.value is None else chance.value * row.amount_due
    return AtRiskCase(row.id, row.stripe_invoice_id, row.stripe_customer_id,
                      row.first_failed_at, row.decline_class, int(row.attempts), row.currency,
                      int(row.amount_due), chance.value, expected, chance.basis,
                      chance.similar_cases)
