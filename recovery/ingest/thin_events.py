"""Thin events (``v2.core.event``) carry no snapshot: fetch one so they are ingested like any other.

The receiver stores a thin event as ``needs_fetch``. A job claims such rows (``fetching``),
reads each one's snapshot from Stripe outside any transaction, and puts the row back in the
inbox as ``pending`` with the snapshot as its payload (the notification kept under
``thin_event``). The read is the v1 snapshot event the notification names (``snapshot_event``,
``GET /v1/events/{id}``), else the related object's current state in a snapshot envelope of the
type without its ``v1.`` prefix. A type the engine does not use is ignored without a read.

Stripe trouble defers the row without using up a try; a read Stripe refuses, or a notification
that names nothing to read, fails the row at once (kept for ``recovery inbox redrive``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import update

from models import InboxStatus
from recovery.errors import GatewayError
from recovery.ingest.inbox import INBOX, claim_due_rows
from recovery.ingest.retries import STRIPE_TROUBLE, defer, record_failure
from recovery.runtime.clock import Clock
from recovery.runtime.db import SessionFactory, transaction
from webhooks.parse import HANDLED_EVENT_TYPES

log = logging.getLogger("recovery.ingest")

V1_PREFIX = "v1."


class StripeReads(Protocol):
    """The gateway's reads this module needs."""

    api_version: str

    def retrieve_event(self, event_id: str, *, stripe_account: str | None = None) -> dict: ...

    def retrieve_object(self, object_type: str, object_id: str, *,
                        stripe_account: str | None = None) -> dict: ...


class NothingToFetch(ValueError):
    """The notification names no snapshot event and no object the engine can read."""


@dataclass
class FetchResult:
    fetched: int = 0
    ignored: int = 0
    deferred: int = 0
    retried: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        return self.fetched + self.ignored + self.deferred + self.retried + self.failed


class SnapshotReader:
    """Turns a thin event notification into the snapshot event the parser reads."""

    def __init__(self, gateway: StripeReads,
                 stripe_account_of: Callable[[str], str | None]) -> None:
        self.gateway = gateway
        self.stripe_account_of = stripe_account_of

    def snapshot(self, account_id: str, notification: dict) -> dict | None:
        """The snapshot event, or None for a type the engine does not use (nothing is read)."""
        snapshot_type = snapshot_type_of(notification)
        if snapshot_type not in HANDLED_EVENT_TYPES:
            return None
        stripe_account = self.stripe_account_of(account_id)
        snapshot_id = notification.get("snapshot_event")
        if isinstance(snapshot_id, str) and snapshot_id:
            return self.gateway.retrieve_event(snapshot_id, stripe_account=stripe_account)
        related = notification.get("related_object")
        if not isinstance(related, dict) or not related.get("id") or not related.get("type"):
            raise NothingToFetch("the thin event names no snapshot event and no related object")
        try:
            current = self.gateway.retrieve_object(related["type"], related["id"],
                                                   stripe_account=stripe_account)
        except ValueError as problem:
            raise NothingToFetch(str(problem)) from None
        return self._envelope(notification, snapshot_type, current)

    def _envelope(self, notification: dict, snapshot_type: str, current: dict) -> dict:
        """The related object's current state in a v1 event envelope. It is today's state,
        not the state when the event happened: the engine re-reads before it acts anyway."""
        reason = notification.get("reason")
        request = reason.get("request") if isinstance(reason, dict) else None
        request = request if isinstance(request, dict) else {}
        return {
            "id": notification["id"], "object": "event", "type": snapshot_type,
            "api_version": self.gateway.api_version,
            "created": _unix(notification.get("created")),
            "livemode": bool(notification.get("livemode", False)),
            "data": {"object": current},
            # The request that caused it: the engine knows its own retries by their key.
            "request": {"id": request.get("id"), "idempotency_key": request.get("idempotency_key")},
        }


def snapshot_type_of(notification: dict) -> str | None:
    """``v1.invoice.payment_failed`` -> ``invoice.payment_failed``; None for v2 types."""
    event_type = notification.get("type")
    if not isinstance(event_type, str) or not event_type.startswith(V1_PREFIX):
        return None
    return event_type.removeprefix(V1_PREFIX)


def _unix(created: object) -> int:
    """Thin events carry an ISO-8601 time; snapshot envelopes a Unix timestamp."""
    try:
        return int(datetime.fromisoformat(str(created).replace("Z", "+00:00")).timestamp())
    except ValueError:
        raise NothingToFetch(f"the thin event has no valid created time: {created!r}") from None


def claim_thin_events(sessions: SessionFactory, clock: Clock, limit: int,
                      worker_id: str | None = None,
                      stop_asked: Callable[[], bool] = lambda: False) -> list:
    """Move up to ``limit`` due ``needs_fetch`` rows to ``fetching``."""
    return claim_due_rows(sessions, clock, limit, from_status=InboxStatus.needs_fetch,
                          to_status=InboxStatus.fetching, worker_id=worker_id,
                          stop_asked=stop_asked)


def fetch_thin_events(sessions: SessionFactory, clock: Clock, reader: SnapshotReader, *,
                      batch_size: int = 100, max_tries: int = 8, worker_id: str | None = None,
                      should_stop: Callable[[], bool] = lambda: False) -> FetchResult:
    """Claim one batch of thin events and fetch each one's snapshot. Once ``should_stop``
    says so, the rows not fetched yet stay claimed, for the stopping worker to hand back."""
    result = FetchResult()
    for row in claim_thin_events(sessions, clock, batch_size, worker_id, should_stop):
        if should_stop():
            break
        outcome = fetch_one(sessions, clock, reader, row, max_tries=max_tries)
        setattr(result, outcome, getattr(result, outcome) + 1)
    return result


def fetch_one(sessions: SessionFactory, clock: Clock, reader: SnapshotReader, row, *,
              max_tries: int) -> str:
    """Fetch one claimed row's snapshot and requeue it; returns what happened to it."""
    retry_status = InboxStatus.needs_fetch
    try:
        snapshot = reader.snapshot(row.account_id, row.payload)
    except STRIPE_TROUBLE as problem:
        return defer(sessions, clock, row.id, problem, retry_status=retry_status)
    except (GatewayError, NothingToFetch) as problem:
        # Stripe refused the read (the object is gone, say): asking again will not help.
        return record_failure(sessions, clock, row.id, f"fetch refused: {problem}", final=True)
    except Exception as problem:  # noqa: BLE001 - one bad row must not stop the job
        log.exception("fetching a thin event failed", extra={"inbox_id": row.id})
        return record_failure(sessions, clock, row.id, f"{type(problem).__name__}: {problem}",
                              max_tries=max_tries, retry_status=retry_status)
    with transaction(sessions) as session:
        session.execute(update(INBOX).where(INBOX.c.id == row.id).values(
            **_requeued(row.payload, snapshot, clock.now())))
    return "fetched" if snapshot is not None else "ignored"


def _requeued(notification: dict, snapshot: dict | None, now: datetime) -> dict:
    """The row's new values: pending with its snapshot, or ignored when there is none."""
    done = {"claimed_at": None, "next_attempt_at": None, "last_error": None}
    if snapshot is None:
        return {**done, "status": InboxStatus.ignored.value, "processed_at": now}
    return {**done, "status": InboxStatus.pending.value,
            "payload": {**snapshot, "thin_event": notification}}
