"""When the chaos driver must step its workers besides due actions, and when a run has settled.

The workers only act when the driver steps them, so the driver must wake them whenever the
engine's own worker would find something to do: a dead worker's action claim or inbox claim whose
lease ran out (leases are measured on the virtual clock, so they expire only when the driver moves
it on), a message to re-send, an inbox row that is pending (stored and not yet ingested, or put
off with a backoff after a failed try), and a failure recorded without its decline details while
Stripe could not be read (its case waits unplanned until the worker's refresh job, every
``DETAILS_REFRESH``, reads them). A run has settled when none of those is left and no
webhook is still on its way: only then is what remains undone lost rather than merely late.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from models import (
    ActionStatus,
    ChargeAttempt,
    InboxStatus,
    Message,
    MessageStatus,
    ScheduledAction,
    WebhookEvent,
)
from recovery.ingest.inbox import CLAIM_LEASE

# A lease is released only once it is strictly past (``lease_until < now``): wake just after.
PAST_LEASE = timedelta(seconds=1)
WAITING_INBOX = (InboxStatus.pending.value, InboxStatus.needs_fetch.value)
CLAIMED_INBOX = (InboxStatus.processing.value, InboxStatus.fetching.value)
UNFINISHED_INBOX = WAITING_INBOX + CLAIMED_INBOX

NEXT_ACTION_LEASE_END = select(func.min(ScheduledAction.lease_until)).where(
    ScheduledAction.status == ActionStatus.claimed.value)
NEXT_RESEND = select(func.min(Message.next_attempt_at)).where(
    Message.status == MessageStatus.pending.value)
# A waiting row without a backoff is due at once: its arrival stands in for "now or earlier".
NEXT_INBOX_TRY = select(func.min(func.coalesce(WebhookEvent.next_attempt_at,
                                               WebhookEvent.received_at))).where(
    WebhookEvent.status.in_(WAITING_INBOX))
OLDEST_INBOX_CLAIM = select(func.min(WebhookEvent.claimed_at)).where(
    WebhookEvent.status.in_(CLAIMED_INBOX))
OLDEST_DETAILS_PENDING = select(func.min(ChargeAttempt.created_at)).where(
    ChargeAttempt.details_pending.is_(True))
# How often the worker's job reads decline details recorded without them (``worker.jobs``).
DETAILS_REFRESH = timedelta(seconds=30)


@dataclass(frozen=True)
class Unsettled:
    """What the engine still has in hand; all zero once the run has settled."""

    claimed_actions: int = 0
    pending_messages: int = 0
    unfinished_events: int = 0  # inbox rows pending, claimed, or waiting for their snapshot
    webhooks_on_the_way: int = 0  # queued in the fake Stripe or in the chaotic delivery

    def __bool__(self) -> bool:
        return bool(self.claimed_actions or self.pending_messages or self.unfinished_events
                    or self.webhooks_on_the_way)


def unsettled(session: Session, webhooks_on_the_way: int) -> Unsettled:
    def count(query) -> int:
        return session.execute(query).scalar() or 0

    return Unsettled(
        claimed_actions=count(select(func.count()).select_from(ScheduledAction).where(
            ScheduledAction.status == ActionStatus.claimed.value)),
        pending_messages=count(select(func.count()).select_from(Message).where(
            Message.status == MessageStatus.pending.value)),
        unfinished_events=count(select(func.count()).select_from(WebhookEvent).where(
            WebhookEvent.status.in_(UNFINISHED_INBOX))),
        webhooks_on_the_way=webhooks_on_the_way)


def next_wakeup(connection: Connection, *, last_step: datetime | None) -> datetime | None:
    """The first moment a worker would find work besides a due action: an action or inbox
    lease running out, a message to re-send, an inbox row to try, decline details to read
    (``DETAILS_REFRESH`` after the failure was recorded, or after the last step, which could not
    read them). A moment no later than ``last_step`` (a step already ran then and left the work
    where it was: a dropped connection, say) becomes one second after it, so the virtual clock
    always moves on."""
    leases = connection.execute(NEXT_ACTION_LEASE_END).scalar()
    resends = connection.execute(NEXT_RESEND).scalar()
    inbox = connection.execute(NEXT_INBOX_TRY).scalar()
    inbox_claim = connection.execute(OLDEST_INBOX_CLAIM).scalar()
    details = connection.execute(OLDEST_DETAILS_PENDING).scalar()
    if details is not None and last_step is not None:
        details = max(details, last_step)
    moments = [
        leases + PAST_LEASE if leases is not None else None,
        resends,
        inbox,
        inbox_claim + CLAIM_LEASE + PAST_LEASE if inbox_claim is not None else None,
        details + DETAILS_REFRESH if details is not None else None,
    ]
    wakeup = min((m for m in moments if m is not None), default=None)
    if wakeup is not None and last_step is not None and wakeup <= last_step:
        return last_step + PAST_LEASE
    return wakeup
