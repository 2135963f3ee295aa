"""Ingest: claim pending inbox rows, parse them into facts, hand each fact to the handler.

A claimed batch is handled in one transaction together with its inbox statuses, so "processed"
is stamped only when the handler's work committed; a handler that offers batches
(``BatchHandler``) reads what it needs from Stripe first, outside the transaction. If anything in
the batch fails, the transaction rolls back and each event is handled again alone, in its own
transaction: a handler that raises there leaves its row pending with backoff, then ``failed``
after ``max_tries`` (payload and error kept, re-drivable). Stripe trouble met while handling an
event (``retries.STRIPE_TROUBLE``) defers the row instead, without using up a try.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import func, or_, select, update
from sqlmodel import Session

from models import InboxStatus, WebhookEvent
from recovery.ingest.retries import STRIPE_TROUBLE, defer, record_failure
from recovery.runtime.claims import claim_rows
from recovery.runtime.clock import Clock, wall_seconds
from recovery.runtime.db import SessionFactory, is_database_unavailable, transaction
from webhooks.facts import AnyFact
from webhooks.parse import ParseError, is_thin_event, parse_event

log = logging.getLogger("recovery.ingest")

FactHandler = Callable[[Session, str, AnyFact], None]
StopAsked = Callable[[], bool]


class _StopAsked(Exception):
    """The process is stopping: roll the batch back so its rows can be handed back at once
    (a batch still writing would hold their row locks past the stop deadline)."""


class BatchHandler(Protocol):
    """What a fact handler offers to take many facts in one transaction."""

    def prefetch(self, facts: Iterable[tuple[str, AnyFact]]) -> dict:
        """Outside any transaction: the remote reads the facts will need (``facts`` may end
        early: the process is stopping)."""

    def batch(self, session: Session, prefetched: dict) -> AbstractContextManager[None]:
        """Around the handler's calls for one batch, inside its transaction."""


CLAIM_LEASE = timedelta(minutes=5)
INBOX = WebhookEvent.__table__  # Core statements: no ORM synchronisation needed
# A claim that outlived its lease goes back to the status it was claimed from.
CLAIMED_FROM = {InboxStatus.processing: InboxStatus.pending,
                InboxStatus.fetching: InboxStatus.needs_fetch}


@dataclass
class IngestResult:
    processed: int = 0
    ignored: int = 0
    failed: int = 0
    retried: int = 0
    deferred: int = 0  # Stripe trouble: waits without using up a try

    @property
    def total(self) -> int:
        return self.processed + self.ignored + self.failed + self.retried + self.deferred


def claim_due_rows(sessions: SessionFactory, clock: Clock, limit: int, *,
                   from_status: InboxStatus, to_status: InboxStatus,
                   worker_id: str | None = None, stop_asked: StopAsked = lambda: False) -> list:
    """Move up to ``limit`` due rows from one status to another, claimed for ``worker_id``;
    return them (oldest first) with their ``id``, ``account_id`` and ``payload``. Pending and
    thin rows share this claim. If ``stop_asked()`` turned true while the claim was being made,
    it is rolled back and nothing is taken."""
    now = clock.now()
    with transaction(sessions) as session:
        rows = claim_rows(
            session, INBOX, from_status=from_status.value,
            filters=[or_(INBOX.c.next_attempt_at.is_(None), INBOX.c.next_attempt_at <= now)],
            order_by=[INBOX.c.id], limit=limit,
            values={"status": to_status.value, "claimed_at": now, "claimed_by": worker_id},
            columns=[INBOX.c.account_id, INBOX.c.payload])
        if rows and stop_asked():
            # The stopping worker may already have handed its claims back: a claim committed
            # after that would stay held until its lease ran out.
            session.rollback()
            return []
        return rows


def claim_events(sessions: SessionFactory, clock: Clock, limit: int,
                 worker_id: str | None = None, stop_asked: StopAsked = lambda: False) -> list:
    """Move up to ``limit`` due pending rows to ``processing``."""
    return claim_due_rows(sessions, clock, limit, from_status=InboxStatus.pending,
                          to_status=InboxStatus.processing, worker_id=worker_id,
                          stop_asked=stop_asked)


def ingest_once(
    sessions: SessionFactory, clock: Clock, handler: FactHandler, *,
    batch_size: int = 100, max_tries: int = 8, batches: BatchHandler | None = None,
    worker_id: str | None = None, stop_asked: StopAsked = lambda: False,
) -> IngestResult:
    """Claim one batch for ``worker_id`` and process it; returns what happened to each row.
    When ``stop_asked()`` turns true the rest is left claimed, for the stopping worker to hand
    back."""
    result = IngestResult()
    claimed = claim_events(sessions, clock, batch_size, worker_id, stop_asked)
    if stop_asked():
        # Told to stop since the claim committed: not even the batch's Stripe reads are made.
        return result
    alone = [row.id for row in claimed]
    if batches is not None and claimed:
        alone = process_together(sessions, clock, handler, batches, claimed, result, stop_asked)
    for event_id in alone:
        if stop_asked():
            break
        outcome = process_event(sessions, clock, handler, event_id, max_tries=max_tries)
        setattr(result, outcome, getattr(result, outcome) + 1)
    return result


def process_together(sessions: SessionFactory, clock: Clock, handler: FactHandler,
                     batches: BatchHandler, rows: list, result: IngestResult,
                     stop_asked: StopAsked = lambda: False) -> list[int]:
    """Handle the claimed events (``claim_events`` rows) in one transaction; returns the ids
    left to handle alone (all of them if the batch failed, else the ones that do not parse,
    whose error is recorded alone, and none if the process is stopping)."""
    facts, unparsed = [], []
    for row in rows:
        try:
            facts.append((row.id, row.account_id, parse_event(row.payload)))
        except Exception:  # noqa: BLE001 - handled alone, where its error is recorded
            unparsed.append(row.id)
    try:
        prefetched = batches.prefetch(_until_stopped(
            [(account, fact) for _id, account, fact in facts if fact], stop_asked))
        if stop_asked():
            raise _StopAsked
        with transaction(sessions) as session, batches.batch(session, prefetched):
            for _id, account_id, fact in facts:
                if stop_asked():
                    raise _StopAsked
                if fact is not None:
                    handler(session, account_id, fact)
            now = clock.now()
            _finish_all(session, [i for i, _a, fact in facts if fact], "processed", now)
            _finish_all(session, [i for i, _a, fact in facts if not fact], "ignored", now)
    except _StopAsked:
        return []
    except Exception:  # noqa: BLE001 - each event alone then finds and records the culprit
        log.warning("handling a batch failed; handling its events one by one", exc_info=True)
        return [row.id for row in rows]
    result.processed += sum(1 for _i, _a, fact in facts if fact)
    result.ignored += sum(1 for _i, _a, fact in facts if not fact)
    return unparsed


def _until_stopped(items: list, stop_asked: StopAsked) -> Iterator:
    """``items`` until the process is told to stop: a batch's Stripe reads take seconds under
    load, and a stopping worker must not spend its deadline on reads it will not use."""
    for item in items:
        if stop_asked():
            return
        yield item


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
        return record_failure(sessions, clock, event_id, f"parse error: {problem}", final=True)
    except STRIPE_TROUBLE as problem:
        return defer(sessions, clock, event_id, problem)
    except Exception as problem:  # noqa: BLE001 - any handler error must not kill the worker
        if is_database_unavailable(problem):
            return _defer_for_database(sessions, clock, event_id, problem)
        log.exception("handling event failed", extra={"inbox_id": event_id})
        error = f"{type(problem).__name__}: {problem}"
        return record_failure(sessions, clock, event_id, error, max_tries=max_tries)


def _defer_for_database(sessions: SessionFactory, clock: Clock, event_id: int,
                        problem: Exception) -> str:
    """A lost connection is not the event's fault: it waits without using up a try. If the
    database is still gone, the row stays claimed until its lease runs out and is released."""
    log.warning("database unavailable; event deferred", extra={"inbox_id": event_id,
                                                               "error": str(problem)[:200]})
    try:
        return defer(sessions, clock, event_id, problem, why="database unavailable")
    except Exception:  # noqa: BLE001 - the lease brings the row back
        log.warning("could not defer the event; its claim will lapse", exc_info=True,
                    extra={"inbox_id": event_id})
        return "deferred"


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


def release_stale_claims(
    sessions: SessionFactory, clock: Clock, lease: timedelta = CLAIM_LEASE
) -> int:
    """Rows left ``processing`` (or ``fetching``) by a worker that died go back to ``pending``
    (or ``needs_fetch``)."""
    released = 0
    with transaction(sessions) as session:
        for claimed, back_to in CLAIMED_FROM.items():
            released += session.execute(
                update(INBOX)
                .where(INBOX.c.status == claimed.value)
                .where(INBOX.c.claimed_at < clock.now() - lease)
                .values(status=back_to.value, claimed_at=None, claimed_by=None)
            ).rowcount
    return released


def release_claims_of(sessions: SessionFactory, worker_id: str) -> int:
    """Hand back the rows ``worker_id`` still holds (it is stopping): each returns to the status
    it was claimed from, for any worker to take at once."""
    released = 0
    with transaction(sessions) as session:
        for claimed, back_to in CLAIMED_FROM.items():
            released += session.execute(
                update(INBOX)
                .where(INBOX.c.status == claimed.value, INBOX.c.claimed_by == worker_id)
                .values(status=back_to.value, claimed_at=None, claimed_by=None)
            ).rowcount
    return released


def redrive(
    sessions: SessionFactory, *, failed: bool = False, event_id: str | None = None
) -> int:
    """Send failed rows (all, or one Stripe event id) back to the queue with a fresh try count:
    to ``pending``, or to ``needs_fetch`` for a thin event whose snapshot was never fetched."""
    if not failed and event_id is None:
        raise ValueError("say which events to re-drive: --failed or --event-id")
    chosen = []
    if event_id is not None:
        chosen.append(INBOX.c.stripe_event_id == event_id)
    if failed:
        chosen.append(INBOX.c.status == InboxStatus.failed.value)
    with transaction(sessions) as session:
        unfetched = [row.id for row in session.execute(
            select(INBOX.c.id, INBOX.c.payload).where(INBOX.c.thin.is_(True), *chosen))
            if is_thin_event(row.payload)]
        fresh = {"tries": 0, "deferrals": 0, "next_attempt_at": None, "claimed_at": None}
        count = session.execute(update(INBOX).where(*chosen, INBOX.c.id.not_in(unfetched))
                                .values(status=InboxStatus.pending.value, **fresh)).rowcount
        if unfetched:
            count += session.execute(update(INBOX).where(INBOX.c.id.in_(unfetched))
                                     .values(status=InboxStatus.needs_fetch.value, **fresh)
                                     ).rowcount
        return count


def inbox_high_water(sessions: SessionFactory) -> int:
    """The highest row id of the inbox (0 when empty): one index lookup. It grows by one per
    stored event (and on PostgreSQL per duplicate too), so its pace is the deliveries' pace."""
    with sessions() as session:
        return session.execute(select(func.max(INBOX.c.id))).scalar() or 0


# The statuses of rows still waiting for work, by what they wait for.
WAITING = {"pending": (InboxStatus.pending.value,),
           "thin_event": (InboxStatus.needs_fetch.value, InboxStatus.fetching.value)}


def inbox_stats(sessions: SessionFactory, clock: Clock) -> dict:
    """Counts by status, failed rows, thin events waiting for their snapshot, and the real age
    in seconds of the oldest row of each waiting kind (``wall_seconds``: in the live sandbox the
    clock runs fast, but a lag is real time)."""
    waiting = [status for statuses in WAITING.values() for status in statuses]
    with sessions() as session:
        counts = dict(session.execute(
            select(INBOX.c.status, func.count()).group_by(INBOX.c.status)).all())
        # func.min keeps the column's type, so the values come back aware on both databases.
        oldest = dict(session.execute(
            select(INBOX.c.status, func.min(INBOX.c.received_at))
            .where(INBOX.c.status.in_(waiting)).group_by(INBOX.c.status)).all())
    now = clock.now()

    def age(kind: str) -> float:
        times = [oldest[status] for status in WAITING[kind] if oldest.get(status)]
        seconds = (now - min(times)).total_seconds() if times else 0.0
        return wall_seconds(clock, max(seconds, 0.0))

    return {"counts": counts, "failed": counts.get(InboxStatus.failed.value, 0),
            "thin_events_waiting": sum(counts.get(s, 0) for s in WAITING["thin_event"]),
            "oldest_pending_age_seconds": age("pending"),
            "oldest_thin_event_age_seconds": age("thin_event")}
