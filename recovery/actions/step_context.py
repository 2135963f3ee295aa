"""What every step of a claimed action shares: the services it calls, and the fenced write that
finishes the action.

A step finishes its action in one transaction that first marks the action, fenced on the claim
(``status='claimed' AND claimed_by=<worker>``), and only then records the outcome through the
engine. If the claim was lost the fence raises ``ClaimLost`` before anything is written, and the
transaction rolls back: the worker that holds the action now records the outcome instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import Session

from models import ActionStatus, RecoveryCase, ScheduledAction
from recovery.actions.contact_check import Unsubscribed, unsubscribed_of
from recovery.actions.message_content import MessageContent
from recovery.actions.outbound_post import OutboundPoster
from recovery.engine.case_store import ACTIONS
from recovery.engine.fact_handlers import RecoveryEngine
from recovery.errors import ChargeRefused
from recovery.messaging.notifier import MessageChannel
from recovery.runtime.claims import Claim, fenced_update
from recovery.runtime.clock import Clock
from recovery.runtime.db import SessionFactory, transaction

# The invoice statuses that end a case: anything else means it is still to be collected.
SETTLED_STATUSES = frozenset({"paid", "void", "uncollectible"})


@dataclass(frozen=True)
class ClaimedAction:
    """An action as its worker read it just after claiming it, with its case."""

    claim: Claim
    action: ScheduledAction
    case: RecoveryCase


@dataclass(frozen=True)
class StepContext:
    sessions: SessionFactory
    clock: Clock
    engine: RecoveryEngine
    channel: MessageChannel
    resend_after: timedelta  # a message not yet accepted by then is re-sent
    message_max_tries: int
    unsubscribed: Unsubscribed = unsubscribed_of  # the contact preferences' answer
    # Renders messages with links and offers; None: the plain message (subject and link).
    content: MessageContent | None = None
    # Signs and posts outbound events; None: they cannot be sent (each one fails loudly).
    outbound: OutboundPoster | None = None

    @property
    def gateway(self):
        return self.engine.gateway

    def stripe_account(self, case: RecoveryCase) -> str | None:
        return self.engine.stripe_account_of(case.account_id)

    @contextmanager
    def finishing(self, claimed: ClaimedAction, result: dict,
                  status: ActionStatus = ActionStatus.done) -> Iterator[Session]:
        """A transaction that marks the action finished, fenced on its claim, then lets the
        caller record the outcome in it."""
        with transaction(self.sessions) as session:
            fenced_update(session, ACTIONS, claimed.claim, {
                "status": status.value, "result": result, "finished_at": self.clock.now(),
                "lease_until": None})
            yield session

    def finish(self, claimed: ClaimedAction, result: dict,
               status: ActionStatus = ActionStatus.done) -> None:
        with self.finishing(claimed, result, status):
            pass

    def settle(self, claimed: ClaimedAction, invoice_status: str | None) -> None:
        """The invoice is no longer open: close the case if it was paid, voided or written off.
        Any other status (a draft, none) ends nothing: the action fails loudly instead."""
        if invoice_status not in SETTLED_STATUSES:
            raise ChargeRefused(f"invoice {claimed.case.stripe_invoice_id} is {invoice_status}: "
                               "neither open nor settled")
        result = {"skipped": f"invoice {invoice_status}"}
        with self.finishing(claimed, result, ActionStatus.canceled) as session:
            case = session.get(RecoveryCase, claimed.case.id)
            self.engine.invoice_settled_elsewhere(session, case, invoice_status)
