"""Running one claimed action: read it back, check the claim still holds, and dispatch to the
step of its kind (one module per kind: ``retry``, ``notify``, ``end_dunning``, ``apply_offer``,
``outbound_event``; taking ownership of Stripe's collection is one call and lives here).

Every step re-reads what it acts on, calls out at most once per request it needs (outside any
transaction), and finishes the action with a write fenced on its claim (``step_context``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select

from models import ActionKind, ActionStatus, CaseStatus, RecoveryCase, ScheduledAction
from recovery.actions.apply_offer import run_apply_offer
from recovery.actions.contact_check import Unsubscribed, unsubscribed_of
from recovery.actions.end_dunning import run_end_dunning
from recovery.actions.message_content import MessageContent
from recovery.actions.notify import run_notify
from recovery.actions.outbound_event import run_outbound_event
from recovery.actions.outbound_post import OutboundPoster
from recovery.actions.retry import run_retry
from recovery.actions.step_context import ClaimedAction, StepContext
from recovery.engine.fact_handlers import RecoveryEngine
from recovery.errors import ClaimLost
from recovery.messaging.notifier import MessageChannel
from recovery.runtime.claims import Claim
from recovery.runtime.clock import Clock
from recovery.runtime.db import SessionFactory

Step = Callable[[StepContext, ClaimedAction], None]


def run_take_ownership(ctx: StepContext, claimed: ClaimedAction) -> None:
    case = claimed.case
    ctx.gateway.set_auto_advance(
        case.stripe_invoice_id, False, idempotency_key=claimed.action.idempotency_key,
        stripe_account=ctx.stripe_account(case))
    ctx.finish(claimed, {"auto_advance": False})


STEPS: dict[str, Step] = {
    ActionKind.retry.value: run_retry,
    ActionKind.take_ownership.value: run_take_ownership,
    ActionKind.notify.value: run_notify,
    ActionKind.end_dunning.value: run_end_dunning,
    ActionKind.apply_offer.value: run_apply_offer,
    ActionKind.outbound_event.value: run_outbound_event,
}


class ActionSteps:
    def __init__(self, sessions: SessionFactory, clock: Clock, engine: RecoveryEngine,
                 channel: MessageChannel, *, resend_after: timedelta = timedelta(minutes=10),
                 message_max_tries: int = 8,
                 unsubscribed: Unsubscribed = unsubscribed_of,
                 content: MessageContent | None = None,
                 outbound: OutboundPoster | None = None) -> None:
        self.context = StepContext(sessions, clock, engine, channel, resend_after,
                                   message_max_tries, unsubscribed, content, outbound)

    def run(self, claim: Claim) -> None:
        """Run the claimed action; ``ClaimLost`` if this worker no longer holds it."""
        claimed = self._read(claim)
        if claimed.case.status != CaseStatus.open.value and not _after_close(claimed.action):
            self.context.finish(claimed, {"skipped": f"case {claimed.case.status}"},
                                ActionStatus.canceled)
            return
        STEPS[claimed.action.kind](self.context, claimed)

    def _read(self, claim: Claim) -> ClaimedAction:
        with self.context.sessions() as session:
            action, case = session.execute(
                select(ScheduledAction, RecoveryCase)
                .join(RecoveryCase, RecoveryCase.id == ScheduledAction.case_id)
                .where(ScheduledAction.id == claim.row_id)).one()
        if action.status != ActionStatus.claimed.value or action.claimed_by != claim.worker_id:
            raise ClaimLost(f"action {claim.row_id} is {action.status}, claimed by "
                            f"{action.claimed_by}, not by {claim.worker_id}")
        return ClaimedAction(claim, action, case)


def _after_close(action: ScheduledAction) -> bool:
    """Actions that still run once their case has ended: the recovered receipt, an offer the
    customer accepted while the case was open (what was promised is kept), and the account's
    outbound events (``case.recovered`` is sent once the case is closed)."""
    if action.kind in (ActionKind.apply_offer.value, ActionKind.outbound_event.value):
        return True
    return action.kind == ActionKind.notify.value and \
        (action.params or {}).get("template") == "payment_recovered"
