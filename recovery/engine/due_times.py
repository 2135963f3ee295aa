"""When a scheduled action may run: the one place its due time is set or moved.

A plan places a retry outside the policy's quiet hours in the customer's time zone, but a time
also moves later: Stripe was unavailable and the action is deferred, a worker died and its claim
is released, an account is resumed after a pause. Each of those goes through ``reschedule`` (and
planning through ``allowed_due_at``), so no charge ever lands in the customer's night.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlmodel import Session

from models import ActionKind, RecoveryCase, ScheduledAction
from recovery.engine.case_store import IN_LIST_CHUNK
from recovery.engine.policies import stored_policy
from recovery.rules.policy import RetryPolicy, outside_quiet_hours

ACTIONS = ScheduledAction.__table__
CASES = RecoveryCase.__table__
# Quiet hours are the policy's "no charge between": they hold the actions that charge.
QUIET_KINDS = frozenset({ActionKind.retry.value})
PolicyFor = Callable[[Session, str], RetryPolicy]  # (session, account id) -> its policy


def allowed_due_at(policy: RetryPolicy, kind: str, at: datetime, timezone: str) -> datetime:
    """``at``, moved past the policy's quiet hours in ``timezone`` if ``kind`` charges."""
    if kind not in QUIET_KINDS:
        return at
    return outside_quiet_hours(policy, at, timezone)


def reschedule(session: Session, action_ids: Collection[int], not_before: datetime,
               policy_for: PolicyFor = stored_policy) -> int:
    """Move these actions to ``not_before`` (or keep their own due time if it is later), then
    past quiet hours in their customer's zone; returns how many moved."""
    ids = sorted(action_ids)
    rows = [row for start in range(0, len(ids), IN_LIST_CHUNK) for row in session.execute(
        select(ACTIONS.c.id, ACTIONS.c.account_id, ACTIONS.c.kind, ACTIONS.c.due_at,
               CASES.c.customer_timezone)
        .join(CASES, CASES.c.id == ACTIONS.c.case_id)
        .where(ACTIONS.c.id.in_(ids[start:start + IN_LIST_CHUNK])))]
    policies: dict[str, RetryPolicy] = {}
    moves = []
    for row in rows:
        if row.account_id not in policies:
            policies[row.account_id] = policy_for(session, row.account_id)
        due = allowed_due_at(policies[row.account_id], row.kind, max(row.due_at, not_before),
                             row.customer_timezone)
        if due != row.due_at:
            moves.append({"action_id": row.id, "new_due_at": due})
    if moves:
        session.execute(update(ACTIONS).where(ACTIONS.c.id == bindparam("action_id"))
                        .values(due_at=bindparam("new_due_at")), moves)
    return len(moves)
