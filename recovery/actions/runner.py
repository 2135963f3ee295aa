"""Running due scheduled actions: claim safely, call out, report the outcome to the engine.

Claims are compare-and-set (``SKIP LOCKED`` on PostgreSQL) with a lease, so several workers never
run one action twice; a worker that dies leaves a claim whose lease expires and the action runs
again with the same idempotency key. No Stripe call happens inside a database transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import or_, update

from models import Account, ActionStatus, ScheduledAction
from recovery.actions.steps import ActionSteps
from recovery.engine.case_store import ACTIONS, OWN_KEY
from recovery.engine.due_times import reschedule
from recovery.errors import AccountAccessRevoked, GatewayUnavailable
from recovery.runtime.claims import claim_rows
from recovery.runtime.clock import Clock
from recovery.runtime.db import SessionFactory, transaction

log = logging.getLogger("recovery.actions")
LEASE = timedelta(minutes=5)
MAX_GATEWAY_BACKOFF = timedelta(hours=1)


@dataclass
class RunResult:
    done: int = 0
    deferred: int = 0
    paused: int = 0

    @property
    def total(self) -> int:
        return self.done + self.deferred + self.paused


def claim_due(sessions: SessionFactory, clock: Clock, worker_id: str, limit: int) -> list[int]:
    now = clock.now()
    with transaction(sessions) as session:
        return claim_rows(
            session, ACTIONS, from_status=ActionStatus.scheduled.value,
            filters=[ACTIONS.c.due_at <= now],
            order_by=[ACTIONS.c.due_at, ACTIONS.c.id], limit=limit,
            values={"status": ActionStatus.claimed.value, "claimed_at": now,
                    "lease_until": now + LEASE, "claimed_by": worker_id,
                    "idempotency_key": OWN_KEY})


def run_due_actions(sessions: SessionFactory, clock: Clock, steps: ActionSteps, *,
                    worker_id: str = "worker", batch_size: int = 100) -> RunResult:
    result = RunResult()
    for action_id in claim_due(sessions, clock, worker_id, batch_size):
        outcome = run_action(sessions, clock, steps, action_id)
        setattr(result, outcome, getattr(result, outcome) + 1)
    return result


def run_action(sessions: SessionFactory, clock: Clock, steps: ActionSteps, action_id: int) -> str:
    try:
        steps.run(action_id)
        return "done"
    except GatewayUnavailable as problem:
        _defer(sessions, clock, action_id, problem, steps)
        return "deferred"
    except AccountAccessRevoked as problem:
        _pause_account(sessions, clock, action_id, str(problem))
        return "paused"


def _defer(sessions: SessionFactory, clock: Clock, action_id: int, problem: GatewayUnavailable,
           steps: ActionSteps):
    """Stripe is unavailable: run again later with the same idempotency key."""
    with transaction(sessions) as session:
        action = session.get(ScheduledAction, action_id)
        action.tries += 1
        wait = timedelta(seconds=problem.retry_after_seconds or 30 * 2 ** (action.tries - 1))
        action.status = ActionStatus.scheduled.value
        action.claimed_at = action.lease_until = None
        action.last_error = str(problem)[:2000]
        session.flush()
        reschedule(session, [action_id], clock.now() + min(wait, MAX_GATEWAY_BACKOFF),
                   steps.engine.planner.policy)
    log.warning("stripe unavailable; action deferred", extra={"action": action_id})


def _pause_account(sessions: SessionFactory, clock: Clock, action_id: int, reason: str) -> None:
    """Stripe refused the account's key: hold every action of the account until it is fixed."""
    with transaction(sessions) as session:
        action = session.get(ScheduledAction, action_id)
        account = session.get(Account, action.account_id)
        account.paused_reason = reason[:2000]
        session.execute(
            update(ScheduledAction)
            .where(ScheduledAction.account_id == action.account_id,
                   or_(ScheduledAction.status == ActionStatus.scheduled.value,
                       ScheduledAction.id == action_id))
            .values(status=ActionStatus.paused.value, claimed_at=None, lease_until=None)
        )
    log.error("ALERT: Stripe refused the account's credentials; its actions are paused",
              extra={"account": account.id, "reason": reason[:200]})


def resume_account(sessions: SessionFactory, clock: Clock, account_id: str) -> int:
    """The account's access works again: its paused actions go back to the queue, not before
    now and outside quiet hours."""
    with transaction(sessions) as session:
        session.get(Account, account_id).paused_reason = None
        resumed = session.execute(
            update(ACTIONS)
            .where(ACTIONS.c.account_id == account_id,
                   ACTIONS.c.status == ActionStatus.paused.value)
            .values(status=ActionStatus.scheduled.value)
            .returning(ACTIONS.c.id)
        ).scalars().all()
        reschedule(session, resumed, clock.now())
        return len(resumed)


def release_stale_actions(sessions: SessionFactory, clock: Clock) -> int:
    """Claims whose lease ran out (the worker died) go back to the queue, key unchanged."""
    with transaction(sessions) as session:
        released = session.execute(
            update(ACTIONS)
            .where(ACTIONS.c.status == ActionStatus.claimed.value,
                   ACTIONS.c.lease_until < clock.now())
            .values(status=ActionStatus.scheduled.value, claimed_at=None, lease_until=None,
                    claimed_by=None)
            .returning(ACTIONS.c.id)
        ).scalars().all()
        reschedule(session, released, clock.now())  # they run now, unless that is quiet hours
        return len(released)

