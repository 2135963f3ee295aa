"""Claiming queue rows for one worker in a single statement, safe with several workers.

``UPDATE .. SET status = <claimed> WHERE id IN (<due ids>) AND status = <from>``: the status
check is the compare-and-set. On SQLite the due ids are a subquery of the same statement. On
PostgreSQL they are selected first with ``FOR UPDATE SKIP LOCKED`` so concurrent workers pass
over each other's rows (inside one statement the planner may re-run a LIMIT subquery and take
more rows than asked).

Statements are Core, on the table rather than the ORM entity: an ORM-enabled UPDATE would also
search the session for objects to synchronise, which a claim never needs and which cost more
than the statement itself.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, Table, select, update
from sqlmodel import Session


def claim_rows(session: Session, table: Table, *, from_status: str,
               filters: Sequence[ColumnElement], order_by: Sequence, limit: int,
               values: dict, columns: Sequence[ColumnElement] = ()) -> list:
    """Mark up to ``limit`` rows of ``table`` (a Core table, with Core column expressions) as
    claimed (``values``); return the ids this call took in order, or, given ``columns``, the
    rows ``(id, *columns)`` as the claim left them (sparing the caller a read)."""
    candidates = (select(table.c.id).where(table.c.status == from_status, *filters)
                  .order_by(*order_by).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        ids = list(session.execute(candidates.with_for_update(skip_locked=True)).scalars())
        if not ids:
            return []
        chosen = table.c.id.in_(ids)
    else:
        chosen = table.c.id.in_(candidates.scalar_subquery())
    claimed = session.execute(
        update(table)
        .where(chosen, table.c.status == from_status)
        .values(**values)
        .returning(table.c.id, *columns)
    )
    if not columns:
        return sorted(claimed.scalars())
    return sorted(claimed.all(), key=lambda row: row[0])
