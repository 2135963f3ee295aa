"""Accepting a churn-prevention offer: what a click on the offer's signed link does, and what the
sandbox does when a simulated customer accepts one.

Acceptance is recorded first, with the durable ``apply_offer`` action that puts the offer on the
subscription, in one transaction; then that action is run at once, through the action runner
(``apply_offer`` step). If Stripe fails or the process dies before it finishes, the offer stays
``accepted`` and the action is still in the queue: a worker applies it later, exactly once.
Accepting is idempotent: a second acceptance of the same offer changes nothing.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime

from models import CaseStatus, Offer, OfferStatus, RecoveryCase
from recovery.actions.runner import DEFAULT_MAX_TRIES, run_now
from recovery.actions.steps import ActionSteps
from recovery.engine.offer_steps import offer_accepted
from recovery.errors import NotFound
from recovery.runtime.db import transaction

log = logging.getLogger("recovery.offers")


def accept_offer(steps: ActionSteps, account_id: str, offer_id: int,
                 at: datetime | None = None, *, worker_id: str | None = None,
                 max_tries: int = DEFAULT_MAX_TRIES) -> str:
    """The customer accepted the offer at ``at`` (now by default): record it and apply it;
    returns the offer's status afterwards (``applied``, or ``accepted`` while Stripe is yet to
    apply it; ``expired`` when its case had ended; an offer accepted before is left as it is).
    Raises ``NotFound`` for an offer the account does not have."""
    ctx = steps.context
    at = at or ctx.clock.now()
    action_id = _record_acceptance(steps, account_id, offer_id, at)
    if action_id is not None:
        run_now(ctx.sessions, ctx.clock, steps, action_id,
                worker_id=worker_id or f"offer-acceptance-{os.getpid()}", max_tries=max_tries)
    with ctx.sessions() as session:
        return session.get(Offer, offer_id).status


def _record_acceptance(steps: ActionSteps, account_id: str, offer_id: int,
                       at: datetime) -> int | None:
    """Mark a shown offer accepted and schedule its application; the action's id, or None when
    nothing is to be applied (accepted before, or its case already ended)."""
    ctx = steps.context
    with transaction(ctx.sessions) as session:
        # Locked: two clicks at once take turns, and the second finds the offer accepted.
        offer = session.get(Offer, offer_id, with_for_update=True, populate_existing=True)
        if offer is None or offer.account_id != account_id:
            raise NotFound(f"no offer {offer_id} for account {account_id}")
        if offer.status != OfferStatus.shown.value:
            log.info("offer accepted again; nothing more to do",
                     extra={"offer": offer_id, "status": offer.status})
            return None
        case = session.get(RecoveryCase, offer.case_id)
        if case.status != CaseStatus.open.value:
            # The offer was made to save this invoice; once the case ended it no longer stands.
            offer.status = OfferStatus.expired.value
            log.info("offer accepted after its case ended; expired",
                     extra={"offer": offer_id, "case": case.id, "case_status": case.status})
            return None
        offer.status, offer.accepted_at = OfferStatus.accepted.value, at
        return offer_accepted(session, case, offer, ctx.clock,
                              f"apply the {offer.kind} offer the customer accepted")
