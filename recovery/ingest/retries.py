"""What becomes of an inbox row that could not be handled this time.

Trouble with the event itself (a handler error, a read Stripe refuses) uses up one of the row's
tries, with backoff, then fails it (payload and error kept, re-drivable). Trouble with Stripe
(unavailable, or the account's access refused) is not the event's fault: the row waits with a
backoff of its own (``deferrals``) and keeps every try.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from models import InboxStatus, WebhookEvent
from recovery.errors import AccountAccessRevoked, GatewayUnavailable
from recovery.runtime.clock import Clock
from recovery.runtime.db import SessionFactory, transaction

log = logging.getLogger("recovery.ingest")

MAX_BACKOFF = timedelta(hours=1)
# Even when Stripe says "retry now", a deferred row waits this long, so a job draining the
# inbox batch by batch never claims the rows it just put off again in the same run.
MIN_DEFERRAL = timedelta(seconds=1)
# Errors that say nothing about the event: Stripe will answer again once it is back, or once
# the account's key is fixed (the action runner pauses the account and alerts on the latter).
STRIPE_TROUBLE = (GatewayUnavailable, AccountAccessRevoked)


def backoff(tries: int) -> timedelta:
    """10 s, 20 s, 40 s ... capped at an hour."""
    return min(timedelta(seconds=10 * 2 ** max(tries - 1, 0)), MAX_BACKOFF)


def record_failure(
    sessions: SessionFactory, clock: Clock, event_id: int, error: str, *,
    final: bool = False, max_tries: int = 8, retry_status: InboxStatus = InboxStatus.pending,
) -> str:
    """Use up one try: back to ``retry_status`` with backoff, or ``failed`` when ``final`` or
    out of tries. Returns the outcome's name (``failed`` or ``retried``)."""
    now = clock.now()
    with transaction(sessions) as session:
        row = session.get(WebhookEvent, event_id)
        row.tries += 1
        row.last_error = error[:4000]
        row.claimed_at = None
        if final or row.tries >= max_tries:
            row.status = InboxStatus.failed.value
            return "failed"
        row.status = retry_status.value
        row.next_attempt_at = now + backoff(row.tries)
        return "retried"


def defer(sessions: SessionFactory, clock: Clock, event_id: int, problem: Exception, *,
          retry_status: InboxStatus = InboxStatus.pending, why: str = "Stripe trouble") -> str:
    """Put the row off for trouble that is not the event's (Stripe, the database) without using
    up a try; returns ``deferred``."""
    now = clock.now()
    with transaction(sessions) as session:
        row = session.get(WebhookEvent, event_id)
        row.deferrals += 1
        asked = getattr(problem, "retry_after_seconds", None)
        wait = timedelta(seconds=asked) if asked is not None else backoff(row.deferrals)
        row.status = retry_status.value
        row.next_attempt_at = now + min(max(wait, MIN_DEFERRAL), MAX_BACKOFF)
        row.claimed_at = None
        row.last_error = f"deferred, {why}: {type(problem).__name__}: {problem}"[:4000]
    level = logging.ERROR if isinstance(problem, AccountAccessRevoked) else logging.WARNING
    log.log(level, "Stripe trouble; inbox event deferred without using a try",
            extra={"inbox_id": event_id, "error": str(problem)[:200]})
    return "deferred"
