"""Running due scheduled actions: claim safely, call out, report the outcome to the engine.

Claims are compare-and-set (``SKIP LOCKED`` on PostgreSQL) with a lease, so several workers never
run one action twice; a worker that dies leaves a claim whose lease expires and the action runs
again with the same idempotency key. An action is claimed just before it runs, one at a time, so
a lease covers that action's own work and never waits behind a batch. Every write after a claim
is fenced on it (``runtime.claims``): a worker whose claim was lost stops and writes nothing.

One bad action never stalls the queue: whatever goes wrong in a step is recorded on that action
(last error, a later due time) and the loop goes on with the next one. Only the action's own
failures use up its ``tries`` (an unexpected error, a 5xx Stripe stored under its key; after
``max_tries`` it is ``failed`` with an alert); trouble that is not the action's (Stripe
unavailable, the database connection lost) only puts it off, since giving up an action for it
could leave a charge made under its key never recorded. No Stripe call happens inside a database
transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update

from models import Account, ActionKind, ActionStatus
from recovery.actions.steps import ActionSteps
from recovery.engine.case_store import ACTIONS, OWN_KEY, action_key
from recovery.engine.due_times import PolicyFor, reschedule
from recovery.errors import (
    AccountAccessRevoked,
    ClaimLost,
    DeliveryUnavailable,
    GatewayUnavailable,
)
from recovery.runtime.claims import Claim, claim_rows, fenced_update
from recovery.runtime.clock import Clock
from recovery.runtime.db import SessionFactory, is_database_unavailable, transaction

log = logging.getLogger("recovery.actions")
LEASE = timedelta(minutes=5)
MAX_BACKOFF = timedelta(hours=1)
FAILED_ALERT = "ALERT: scheduled action failed"
CLAIM_LOST = "claim lost: the action's lease ran out and another worker holds it"
DEFAULT_MAX_TRIES = 8


@dataclass
class RunResult:
    done: int = 0
    deferred: int = 0  # Stripe unavailable: due again later, same key
    retried: int = 0  # failed: due again later
    failed: int = 0  # failed for the last time
    paused: int = 0
    lost: int = 0  # the claim was lost: another worker finishes the action
    unrecorded: int = 0  # not even the failure could be written: the lease brings it back

    @property
    def total(self) -> int:
        return (self.done + self.deferred + self.retried + self.failed + self.paused + self.lost
                + self.unrecorded)


def claim_due(sessions: SessionFactory, clock: Clock, worker_id: str, limit: int, *,
              up_to_id: int | None = None, only_id: int | None = None,
              should_stop: Callable[[], bool] = lambda: False) -> list[int]:
    """Claim up to ``limit`` due actions (``only_id``: that one action, if it is due). If
    ``should_stop()`` turned true while the claim was being made, nothing is taken: the
    stopping worker may already have handed its claims back."""
    now = clock.now()
    # A removed account's actions stay where they are and never run (its row, cases and
    # history are kept; recovery/accounts/connect.py).
    removed = select(Account.id).where(Account.removed_at.is_not(None))
    filters = [ACTIONS.c.due_at <= now, ACTIONS.c.account_id.not_in(removed)]
    if up_to_id is not None:
        filters.append(ACTIONS.c.id <= up_to_id)
    if only_id is not None:
        filters.append(ACTIONS.c.id == only_id)
    with transaction(sessions) as session:
        claimed = claim_rows(
            session, ACTIONS, from_status=ActionStatus.scheduled.value, filters=filters,
            order_by=[ACTIONS.c.due_at, ACTIONS.c.id], limit=limit,
            values={"status": ActionStatus.claimed.value, "claimed_at": now,
                    "lease_until": now + LEASE, "claimed_by": worker_id,
                    "idempotency_key": OWN_KEY})
        if claimed and should_stop():
            session.rollback()
            return []
        return claimed


def run_now(sessions: SessionFactory, clock: Clock, steps: ActionSteps, action_id: int, *,
            worker_id: str, max_tries: int = DEFAULT_MAX_TRIES) -> str | None:
    """Claim and run this one due action now, as a worker would (the same fencing, failure
    records and backoff); None when it is not due or another worker holds it."""
    if not claim_due(sessions, clock, worker_id, 1, only_id=action_id):
        return None
    return run_action(sessions, clock, steps, Claim(action_id, worker_id), max_tries=max_tries)


def run_due_actions(sessions: SessionFactory, clock: Clock, steps: ActionSteps, *,
                    worker_id: str = "worker", batch_size: int = 100,
                    max_tries: int = DEFAULT_MAX_TRIES,
                    should_stop: Callable[[], bool] = lambda: False) -> RunResult:
    """Run up to ``batch_size`` due actions, each claimed just before it runs. Actions the
    batch itself schedules wait for the next one, so a step that keeps planning a step due at
    once cannot hold the batch. Once ``should_stop`` says so, no further action is claimed."""
    result = RunResult()
    with sessions() as session:
        newest = session.scalar(select(func.max(ACTIONS.c.id)))
    for _ in range(batch_size):
        if should_stop():
            break
        claimed = claim_due(sessions, clock, worker_id, 1, up_to_id=newest,
                            should_stop=should_stop)
        if not claimed:
            break
        outcome = run_action(sessions, clock, steps, Claim(claimed[0], worker_id),
                             max_tries=max_tries)
        setattr(result, outcome, getattr(result, outcome) + 1)
    return result


def run_action(sessions: SessionFactory, clock: Clock, steps: ActionSteps, claim: Claim, *,
               max_tries: int = DEFAULT_MAX_TRIES) -> str:
    """Run one claimed action; returns the ``RunResult`` field its outcome counts in."""
    try:
        return _run(sessions, clock, steps, claim, max_tries)
    except ClaimLost as lost:
        log.warning(CLAIM_LOST, extra={"action": claim.row_id, "worker": claim.worker_id,
                                       "detail": str(lost)})
        return "lost"
    except Exception:  # noqa: BLE001 - recording the failure failed too (the database?)
        log.exception("could not record the action's failure; its lease returns it to the queue",
                      extra={"action": claim.row_id})
        return "unrecorded"


def _run(sessions: SessionFactory, clock: Clock, steps: ActionSteps, claim: Claim,
         max_tries: int) -> str:
    try:
        steps.run(claim)
        return "done"
    except ClaimLost:
        raise
    except GatewayUnavailable as problem:
        # Stripe keeps a 5xx under the key: that one counts, and the next try needs a new key.
        return _reschedule(sessions, clock, claim, problem, counts=problem.key_spent,
                           max_tries=max_tries, policy_for=steps.context.engine.planner.policy)
    except AccountAccessRevoked as problem:
        _pause_account(sessions, claim, str(problem))
        return "paused"
    except DeliveryUnavailable as problem:
        # The receiver's trouble (an outbound event's 5xx, 429 or timeout): an expected
        # outcome, so no traceback, but a try that counts (a receiver down for good must not
        # keep the action forever).
        return _reschedule(sessions, clock, claim, problem, counts=True, max_tries=max_tries,
                           policy_for=steps.context.engine.planner.policy)
    except Exception as problem:  # noqa: BLE001 - one bad action must not stop the queue
        if is_database_unavailable(problem):
            # A dropped connection says nothing about the action: it waits, same key. (If the
            # database is still away, recording this fails too and the lease brings it back.)
            return _reschedule(sessions, clock, claim, problem, counts=False,
                               max_tries=max_tries,
                               policy_for=steps.context.engine.planner.policy)
        log.exception("action failed", extra={"action": claim.row_id})
        return _reschedule(sessions, clock, claim, problem, counts=True, max_tries=max_tries,
                           policy_for=steps.context.engine.planner.policy)


def backoff(tries: int, retry_after_seconds: float | None = None) -> timedelta:
    wait = timedelta(seconds=retry_after_seconds or 30 * 2 ** (tries - 1))
    return min(wait, MAX_BACKOFF)


def _reschedule(sessions: SessionFactory, clock: Clock, claim: Claim, problem: Exception, *,
                counts: bool, max_tries: int, policy_for: PolicyFor) -> str:
    """Record the failed run on the action and put it back in the queue (past quiet hours), or,
    when the failure counts and the action has used up its tries, fail it with an alert. Trouble
    that is not the action's (Stripe unavailable: 429, timeouts, connection errors; the database
    connection lost) does not count and uses up no try: the action waits, same key, and the
    waiting action's ``result`` says so (``deferred``, with how many times: ``deferrals``), as a
    notification put off by quiet hours does. The backoff grows with every failed run, counted
    or not."""
    spent = getattr(problem, "key_spent", False)
    now = clock.now()
    error = f"{type(problem).__name__}: {problem}"
    with transaction(sessions) as session:
        tries, result = session.execute(select(ACTIONS.c.tries, ACTIONS.c.result)
                                        .where(ACTIONS.c.id == claim.row_id)).one()
        deferrals = (result or {}).get("deferrals", 0)
        values = {"last_error": error[:2000]}
        if counts:
            tries += 1  # unique per spent key: a key is spent only by a failure that counts
            values["tries"] = tries
        else:
            deferrals += 1
            values["result"] = {"deferred": error[:200], "deferrals": deferrals}
        if spent:
            values["idempotency_key"] = action_key(claim.row_id, tries)
        final = counts and tries >= max_tries
        if final:
            values |= {"status": ActionStatus.failed.value, "finished_at": now,
                       "lease_until": None}
        else:
            wait = backoff(tries + deferrals, getattr(problem, "retry_after_seconds", None))
            values |= {"status": ActionStatus.scheduled.value, "due_at": now + wait,
                       "claimed_at": None, "lease_until": None, "claimed_by": None}
        fenced_update(session, ACTIONS, claim, values)
        if not final:
            reschedule(session, [claim.row_id], now + wait, policy_for)
    return _report(claim, problem, tries, final=final, counts=counts)


def _report(claim: Claim, problem: Exception, tries: int, *, final: bool, counts: bool) -> str:
    detail = {"action": claim.row_id, "tries": tries, "error": str(problem)[:200]}
    if final:
        log.error(FAILED_ALERT, extra=detail)
        return "failed"
    if counts:
        log.warning("action failed; it will be tried again", extra=detail)
        return "retried"
    log.warning("stripe or the database unavailable; action deferred", extra=detail)
    return "deferred"


def _pause_account(sessions: SessionFactory, claim: Claim, reason: str) -> None:
    """Stripe refused the account's key: hold every action of the account until it is fixed."""
    with transaction(sessions) as session:
        fenced_update(session, ACTIONS, claim, {"status": ActionStatus.paused.value,
                                                "claimed_at": None, "lease_until": None,
                                                "claimed_by": None})
        account_id = session.scalar(
            select(ACTIONS.c.account_id).where(ACTIONS.c.id == claim.row_id))
        session.get(Account, account_id).paused_reason = reason[:2000]
        # Outbound events go to the account's own systems, not to Stripe: they carry on.
        session.execute(
            update(ACTIONS)
            .where(ACTIONS.c.account_id == account_id,
                   ACTIONS.c.status == ActionStatus.scheduled.value,
                   ACTIONS.c.kind != ActionKind.outbound_event.value)
            .values(status=ActionStatus.paused.value, claimed_at=None, lease_until=None))
    log.error("ALERT: Stripe refused the account's credentials; its actions are paused",
              extra={"account": account_id, "reason": reason[:200]})


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


def release_actions_claimed_by(sessions: SessionFactory, worker_id: str) -> int:
    """Hand back the actions ``worker_id`` still holds (it is stopping), key and due time
    unchanged: another worker runs them at once. Any write the stopping worker still makes to
    one of them is fenced out (``ClaimLost``)."""
    with transaction(sessions) as session:
        return session.execute(
            update(ACTIONS)
            .where(ACTIONS.c.status == ActionStatus.claimed.value,
                   ACTIONS.c.claimed_by == worker_id)
            .values(status=ActionStatus.scheduled.value, claimed_at=None, lease_until=None,
                    claimed_by=None)
        ).rowcount


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
