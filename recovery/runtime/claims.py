"""Claiming queue rows for one worker in a single statement, safe with several workers, and
writing to a claimed row only while the claim still holds (fencing).

``UPDATE .. SET status = <claimed> WHERE id IN (<due ids>) AND status = <from>``: the status
check is the compare-and-set. On SQLite the due ids are a subquery of the same statement. On
PostgreSQL they are selected first with ``FOR UPDATE SKIP LOCKED`` so concurrent workers pass
over each other's rows (inside one statement the planner may re-run a LIMIT subquery and take
more rows than asked).

A claim lasts a lease; when it runs out another worker may take the row. So every write after a
claim is fenced: ``UPDATE .. WHERE id = <row> AND status = 'claimed' AND claimed_by = <me>``. If
that matches nothing the claim was lost and ``ClaimLost`` is raised, before any other write of the
transaction commits.

Statements are Core, on the table rather than the ORM entity: an ORM-enabled UPDATE would also
search the session for objects to synchronise, which a claim never needs and which cost more
than the statement itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Table, select, update
from sqlmodel import Session

from recovery.errors import ClaimLost

CLAIMED = "claimed"


@dataclass(frozen=True)
class Claim:
    """A row one worker holds: the fence of every write it makes to the row afterwards."""

    row_id: int
    worker_id: str


def fenced_update(session: Session, table: Table, claim: Claim, values: dict, *,
                  claimed_status: str = CLAIMED) -> None:
    """Write ``values`` to the claimed row, only while ``claim`` still holds it; else raise
    ``ClaimLost`` (the caller's transaction must then roll back). On PostgreSQL the write also
    locks the row, so a stale-claim release waits for this transaction and then finds the row
    no longer claimed."""
    written = session.execute(
        update(table)
        .where(table.c.id == claim.row_id, table.c.status == claimed_status,
               table.c.claimed_by == claim.worker_id)
        .values(**values))
    if written.rowcount != 1:
        raise ClaimLost(f"{table.name} {claim.row_id} is no longer claimed by {claim.worker_id}")


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
