"""Ingest: claim pending inbox rows, parse them into facts, hand each fact to the handler.

A claimed batch is handled in one transaction together with its inbox statuses, so "processed"
is stamped only when the handler's work committed; a handler that offers batches
(``BatchHandler``) reads what it needs from Stripe first, outside the transaction. If anything in
the batch fails, the transaction rolls back and each event is handled again alone, in its own
transaction: a handler that raises there leaves its row pending with backoff, then ``failed``
after ``max_tries`` (payload and error kept, re-drivable).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import func, or_, select, update
from sqlmodel import Session

from models import InboxStatus, WebhookEvent
from recovery.runtime.claims import claim_rows
from recovery.runtime.clock import Clock
from recovery.runtime.db import SessionFactory, transaction
from webhooks.facts import AnyFact
from webhooks.parse import ParseError, parse_event

log = logging.getLogger("recovery.ingest")

FactHandler = Callable[[Session, str, AnyFact], None]


class BatchHandler(Protocol):
    """What a fact handler offers to take many facts in one transaction."""

    def prefetch(self, facts: Sequence[tuple[str, AnyFact]]) -> dict:
        """Outside any transaction: the remote reads the facts will need."""

    def batch(self, session: Session, prefetched: dict) -> AbstractContextManager[None]:
        """Around the handler's calls for one batch, inside its transaction."""


CLAIM_LEASE = timedelta(minutes=5)
INBOX = WebhookEvent.__table__  # Core statements: no ORM synchronisation needed
MAX_BACKOFF = timedelta(hours=1)


@dataclass
class IngestResult:
    processed: int = 0
    ignored: int = 0
    failed: int = 0
    retried: int = 0

    @property
    def total(self) -> int:
        return self.processed + self.ignored + self.failed + self.retried


def backoff(tries: int) -> timedelta:
    """10 s, 20 s, 40 s ... capped at an hour."""
    return min(timedelta(seconds=10 * 2 ** max(tries - 1, 0)), MAX_BACKOFF)


def claim_events(sessions: SessionFactory, clock: Clock, limit: int) -> list:
    """Move up to ``limit`` due pending rows to ``processing``; return them (oldest first) with
    their ``id``, ``account_id`` and ``payload``."""
    now = clock.now()
    with transaction(sessions) as session:
        return claim_rows(
            session, INBOX, from_status=InboxStatus.pending.value,
            filters=[or_(INBOX.c.next_attempt_at.is_(None), INBOX.c.next_attempt_at <= now)],
            order_by=[INBOX.c.id], limit=limit,
            values={"status": InboxStatus.processing.value, "claimed_at": now},
            columns=[INBOX.c.account_id, INBOX.c.payload])


def ingest_once(
    sessions: SessionFactory, clock: Clock, handler: FactHandler, *,
    batch_size: int = 100, max_tries: int = 8, batches: BatchHandler | None = None,
) -> IngestResult:
    """Claim one batch and process it; returns what happened to each row."""
    result = IngestResult()
    claimed = claim_events(sessions, clock, batch_size)
    alone = [row.id for row in claimed]
    if batches is not None and claimed:
        alone = process_together(sessions, clock, handler, batches, claimed, result)
    for event_id in alone:
        outcome = process_event(sessions, clock, handler, event_id, max_tries=max_tries)
        setattr(result, outcome, getattr(result, outcome) + 1)
    return result


def process_together(sessions: SessionFactory, clock: Clock, handler: FactHandler,
                     batches: BatchHandler, rows: list, result: IngestResult) -> list[int]:
    """Handle the claimed events (``claim_events`` rows) in one transaction; returns the ids
    left to handle alone (all of them if the batch failed, else the ones that do not parse,
    whose error is recorded alone)."""
    facts, unparsed = [], []
    for row in rows:
        try:
            facts.append((row.id, row.account_id, parse_event(row.payload)))
        except Exception:  # noqa: BLE001 - handled alone, where its error is recorded
            unparsed.append(row.id)
    try:
        prefetched = batches.prefetch([(account, fact) for _id, account, fact in facts if fact])
        with transaction(sessions) as session, batches.batch(session, prefetched):
            for _id, account_id, fact in facts:
                if fact is not None:
                    handler(session, account_id, fact)
            now = clock.now()
            _finish_all(session, [i for i, _a, fact in facts if fact], "processed", now)
            _finish_all(session, [i for i, _a, fact in facts if not fact], "ignored", now)
    except Exception:  # noqa: BLE001 - each event alone then finds and records the culprit
        log.warning("handling a batch failed; handling its events one by one", exc_info=True)
        return [row.id for row in rows]
    result.processed += sum(1 for _i, _a, fact in facts if fact)
    result.ignored += sum(1 for _i, _a, fact in facts if not fact)
    return unparsed


def process_event(
    sessions: SessionFactory, clock: Clock, handler: FactHandler, event_id: int, *, max_tries: int
) -> str:
    try:
        with transaction(sessions) as session:
            row = session.get(WebhookEvent, event_id)
            outcome = _handle_row(session, row, handler)
            _finish(row, outcome, clock.now())
            return outcome
    except ParseError as problem:
        # A malformed payload will not parse better later: fail it now, keep it for re-drive.
        return _record_failure(sessions, clock, event_id, f"parse error: {problem}", final=True)
    except Exception as problem:  # noqa: BLE001 - any handler error must not kill the worker
        log.exception("handling event failed", extra={"inbox_id": event_id})
        error = f"{type(problem).__name__}: {problem}"
        return _record_failure(sessions, clock, event_id, error, max_tries=max_tries)


def _handle_row(session: Session, row: WebhookEvent, handler: FactHandler) -> str:
    fact = parse_event(row.payload)
    if fact is None:
        return "ignored"
    handler(session, row.account_id, fact)
    return "processed"


def _finish(row: WebhookEvent, outcome: str, now: datetime) -> None:
    done = InboxStatus.processed if outcome == "processed" else InboxStatus.ignored
    row.status = done.value
    row.tries += 1
    row.processed_at = now
    row.claimed_at = None
    row.last_error = None


def _finish_all(session: Session, event_ids: list[int], outcome: str, now: datetime) -> None:
    """``_finish`` for many rows in one statement."""
    if not event_ids:
        return
    done = InboxStatus.processed if outcome == "processed" else InboxStatus.ignored
    session.execute(
        update(INBOX).where(INBOX.c.id.in_(event_ids))
        .values(status=done.value, tries=INBOX.c.tries + 1, processed_at=now,
                claimed_at=None, last_error=None))


def _record_failure(
    sessions: SessionFactory, clock: Clock, event_id: int, error: str, *,
    final: bool = False, max_tries: int = 8,
) -> str:
    now = clock.now()
    with transaction(sessions) as session:
        row = session.get(WebhookEvent, event_id)
        row.tries += 1
        row.last_error = error[:4000]
        row.claimed_at = None
        if final or row.tries >= max_tries:
            row.status = InboxStatus.failed.value
            return "failed"
        row.status = InboxStatus.pending.value
        row.next_attempt_at = now + backoff(row.tries)
        return "retried"


def release_stale_claims(
    sessions: SessionFactory, clock: Clock, lease: timedelta = CLAIM_LEASE
) -> int:
    """Rows left ``processing`` by a worker that died go back to ``pending``."""
    with transaction(sessions) as session:
        released = session.execute(
            update(WebhookEvent)
            .where(WebhookEvent.status == InboxStatus.processing.value)
            .where(WebhookEvent.claimed_at < clock.now() - lease)
            .values(status=InboxStatus.pending.value, claimed_at=None)
        )
        return released.rowcount


def redrive(
    sessions: SessionFactory, *, failed: bool = False, event_id: str | None = None
) -> int:
    """Send failed rows (all, or one Stripe event id) back to pending with a fresh try count."""
    if not failed and event_id is None:
        raise ValueError("say which events to re-drive: --failed or --event-id")
    statement = update(WebhookEvent).values(
        status=InboxStatus.pending.value, tries=0, next_attempt_at=None, claimed_at=None
    )
    if event_id is not None:
        statement = statement.where(WebhookEvent.stripe_event_id == event_id)
    if failed:
        statement = statement.where(WebhookEvent.status == InboxStatus.failed.value)
    with transaction(sessions) as session:
        return session.execute(statement).rowcount


def inbox_stats(sessions: SessionFactory, clock: Clock) -> dict:
    """Counts by status and the age of the oldest pending row, in seconds."""
    with sessions() as session:
        counts = dict(
            session.execute(
                select(WebhookEvent.status, func.count()).group_by(WebhookEvent.status)
            ).all()
        )
        oldest = session.execute(
            select(func.min(WebhookEvent.received_at))
            .where(WebhookEvent.status == InboxStatus.pending.value)
        ).scalar()
    # func.min keeps the column's type, so the value comes back aware on both databases.
    age = (clock.now() - oldest).total_seconds() if oldest else 0.0
    return {"counts": counts, "oldest_pending_age_seconds": max(age, 0.0)}

