"""The SQL the two databases spell differently (elapsed seconds, the Monday of a week, whole days
rounded up), and the session settings the reports run with on PostgreSQL."""

from __future__ import annotations

from sqlalchemy import Float, Integer, String, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import Session

DAY_SECONDS = 86_400


def prepare(session: Session) -> None:
    """PostgreSQL's JIT would compile each report's plan (its cost counts every correlated
    lookup as if it were cold) for longer than the query runs: measured 1.5 s of JIT for a
    50 ms query. Off for the report's transaction only."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL jit = off"))


class seconds_between(FunctionElement):  # noqa: N801 - reads as the SQL function it stands for
    """``later - earlier`` in seconds (a float)."""

    type = Float()
    inherit_cache = True


@compiles(seconds_between)
def _seconds_between(element, compiler, **kw) -> str:
    later, earlier = (compiler.process(clause, **kw) for clause in element.clauses)
    # date_part gives a double; EXTRACT gives a numeric since PostgreSQL 14, slower to compare.
    return f"date_part('epoch', {later} - {earlier})"


@compiles(seconds_between, "sqlite")
def _seconds_between_sqlite(element, compiler, **kw) -> str:
    later, earlier = (compiler.process(clause, **kw) for clause in element.clauses)
    # julianday keeps milliseconds; rounding the product drops the float's noise, so a recovery
    # exactly N days after the failure counts as within N days.
    return f"(ROUND((julianday({later}) - julianday({earlier})) * 86400000.0) / 1000.0)"


class week_start(FunctionElement):  # noqa: N801
    """The Monday (UTC) of the week a timestamp falls in: a date on PostgreSQL, ``YYYY-MM-DD``
    text on SQLite (``str()`` of either reads the same)."""

    type = String()
    inherit_cache = True


@compiles(week_start)
def _week_start(element, compiler, **kw) -> str:
    (moment,) = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"CAST(date_trunc('week', {moment} AT TIME ZONE 'UTC') AS DATE)"


@compiles(week_start, "sqlite")
def _week_start_sqlite(element, compiler, **kw) -> str:
    (moment,) = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"date({moment}, '-6 days', 'weekday 1')"  # SQLite keeps UTC text


class days_rounded_up(FunctionElement):  # noqa: N801
    """``ceil(seconds / 1 day)``, never below 0: recovered "by day d" means within d days."""

    type = Integer()
    inherit_cache = True


@compiles(days_rounded_up)
def _days_rounded_up(element, compiler, **kw) -> str:
    (seconds,) = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"GREATEST(CAST(CEIL({seconds} / {DAY_SECONDS}.0) AS INTEGER), 0)"


@compiles(days_rounded_up, "sqlite")
def _days_rounded_up_sqlite(element, compiler, **kw) -> str:
    (seconds,) = (compiler.process(clause, **kw) for clause in element.clauses)
    days = f"({seconds} / {DAY_SECONDS}.0)"
    return f"MAX(CAST({days} AS INTEGER) + ({days} > CAST({days} AS INTEGER)), 0)"


