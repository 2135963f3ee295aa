"""The engine's side of churn-prevention offers: the steps an accepted offer brings, written here
because the engine is the only writer of scheduled actions.

- ``offer_accepted``: applying an accepted offer through Stripe is a durable action
  (``apply_offer``), so a crash or a Stripe outage between the acceptance and the coupon loses
  nothing: the action runner tries it again. The account hears of it (``offer.accepted``).
- ``retry_now``: a discount was applied; the open invoice is retried at once (the earliest time
  the network rules and quiet hours allow), replacing the case's step.
- ``hold_until``: collection is paused; the case stops dunning: its step is replaced by a retry
  of the open invoice when the pause ends (the invoice made before a pause is not voided by it),
  or by the end of dunning then if the card may not be charged again.
- ``mark_offers_recovered``: the case recovered after its offer was accepted.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session

from models import (
    ActionKind,
    ActionStatus,
    CaseStatus,
    Offer,
    OfferStatus,
    RecoveryCase,
    ScheduledAction,
    WaitingFor,
)
from recovery.engine import case_store as cases
from recovery.engine.case_store import STEP_KINDS, ActionDraft
from recovery.engine.outbound_events import emit_offer_accepted
from recovery.engine.planning import Planner, retry_params
from recovery.rules.network_rules import earliest_allowed
from recovery.rules.policy import RetryPolicy, outside_quiet_hours
from recovery.runtime.clock import Clock

log = logging.getLogger("recovery.planning")
# The case waits on these when a retry may follow an offer; the others wait on the customer
# (a new card, authentication) or an operator, and a retry would only fail again.
RETRYABLE_WAITS = (WaitingFor.retry.value, WaitingFor.end.value)
ACCEPTED_STATUSES = (OfferStatus.accepted.value, OfferStatus.applied.value)


def offer_accepted(session: Session, case: RecoveryCase, offer: Offer, clock: Clock,
                   reason: str) -> int:
    """The customer accepted ``offer`` (marked so by the caller): schedule its application
    now and emit ``offer.accepted``; returns the ``apply_offer`` action's id."""
    emit_offer_accepted(session, case, offer, clock)
    return schedule_offer_application(session, case, offer.id, clock.now(), reason)


def schedule_offer_application(session: Session, case: RecoveryCase, offer_id: int,
                               at: datetime, reason: str) -> int:
    """Write the ``apply_offer`` action of an accepted offer, due at ``at``; returns its id."""
    action = ScheduledAction(account_id=case.account_id, case_id=case.id,
                             kind=ActionKind.apply_offer.value, due_at=at,
                             status=ActionStatus.scheduled.value, params={"offer_id": offer_id},
                             reason=reason, tries=0, created_at=at)
    session.add(action)
    session.flush()
    return action.id


def retry_now(session: Session, planner: Planner, case: RecoveryCase,
              reason: str) -> datetime | None:
    """Replace the case's step with a retry at the earliest time the network rules and quiet
    hours allow from now; returns it, or None when no retry is planned (the case is not open,
    waits on the customer, has a step running, or the card may not be charged)."""
    now = planner.clock.now()
    case = _open_case(session, case)
    if case is None or case.waiting_for not in RETRYABLE_WAITS:
        return None
    policy = planner.policy(session, case.account_id)
    at = _first_allowed(session, policy, case, now)
    if at is None:
        log.info("no prompt retry: the network rules bar the card",
                 extra={"invoice": case.stripe_invoice_id})
        return None
    return at if _replace_step(session, case, ActionKind.retry, at, reason, now) else None


def hold_until(session: Session, planner: Planner, case: RecoveryCase, until: datetime,
               reason: str) -> datetime | None:
    """Stop dunning until ``until``: the case's step becomes a retry then (or, when the card may
    not be charged again, the end of dunning then). Returns when the case acts next, or None
    when it is not open or its step is running (that step's outcome plans what follows)."""
    now = planner.clock.now()
    case = _open_case(session, case)
    if case is None:
        return None
    policy = planner.policy(session, case.account_id)
    at = _first_allowed(session, policy, case, until)
    kind = ActionKind.retry if at is not None else ActionKind.end_dunning
    written = _replace_step(session, case, kind, at or until, reason, now)
    return (at or until) if written else None


def mark_offers_recovered(session: Session, case: RecoveryCase) -> int:
    """Mark the case's accepted offers as recovered; returns how many there were."""
    return session.execute(
        update(Offer.__table__)
        .where(Offer.__table__.c.case_id == case.id,
               Offer.__table__.c.status.in_(ACCEPTED_STATUSES))
        .values(recovered=True)).rowcount


def _open_case(session: Session, case: RecoveryCase) -> RecoveryCase | None:
    """The case, locked and re-read, if it is open and no step of it is running."""
    case = cases.lock_cases(session, [case.id]).get(case.id)
    if case is None or case.status != CaseStatus.open.value:
        return None
    if cases.action_logs(session, [case.id])[case.id].step_running:
        log.info("step running; its outcome plans what follows",
                 extra={"invoice": case.stripe_invoice_id})
        return None
    return case


def _first_allowed(session: Session, policy: RetryPolicy, case: RecoveryCase,
                   not_before: datetime) -> datetime | None:
    """The first time from ``not_before`` outside quiet hours that the card's network budget
    allows, as the planner finds it; None without a fingerprint or when the card is barred."""
    history = cases.card_history(session, case.account_id, case.card_fingerprint)
    candidate = not_before
    for _ in range(20):
        moved = outside_quiet_hours(policy, candidate, case.customer_timezone)
        moved = earliest_allowed(case.card_fingerprint, case.card_brand, moved, history,
                                 policy.limits)
        if moved is None or moved == candidate:
            return moved
        candidate = moved
    return candidate


def _replace_step(session: Session, case: RecoveryCase, kind: ActionKind, at: datetime,
                  reason: str, now: datetime) -> bool:
    cases.cancel_actions_of(session, [case.id], now, STEP_KINDS)
    params = retry_params(case, False) if kind is ActionKind.retry else None
    written = cases.schedule_many(session, [ActionDraft(case, kind, at, reason, params)], now)
    if case.id not in written:
        return False
    case.waiting_for = (WaitingFor.retry if kind is ActionKind.retry else WaitingFor.end).value
    case.last_reason, case.updated_at = reason, now
    log.info("planned after an offer", extra={"invoice": case.stripe_invoice_id,
                                              "plan": kind.value, "at": at, "reason": reason})
    return True
