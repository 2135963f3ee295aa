"""The notify step: ask the contact rules, then write the customer's message ``pending``, with a
message id derived from the action, in the transaction that finishes the action; then hand it to
the channel.

The rules (``rules.contact``) are asked at send time, with the customer's messages as the
database holds them: a message they defer goes back to the queue at the time they allow (same
action, nothing lost); one they refuse is canceled with their reason in the action's result.

A crash between that commit and the delivery, or a channel that refuses, leaves the message
pending, and the re-send job (``recovery.messaging.delivery``) delivers it later with the same
message id: a message is never lost, and never sent under two ids.

What the message says is put together by ``message_content``: Stripe is read before the
transaction (the customer's address and languages, the card), and a reminder or final notice
carries the offer the account's offers policy makes to this customer, if any.
"""

from __future__ import annotations

import logging

from models import Account, ActionStatus
from recovery.actions.contact_check import decide_contact, lock_account_contact
from recovery.actions.message_content import Recipient, read_recipient
from recovery.actions.step_context import ClaimedAction, StepContext
from recovery.engine.case_store import ACTIONS
from recovery.messaging.delivery import deliver, queue_message
from recovery.messaging.notifier import OutgoingMessage, compose, message_id_for_action
from recovery.messaging.rendering import KINDS_WITH_OFFER
from recovery.offers.records import offer_for_message, offers_policy_of, paused_until
from recovery.runtime.claims import fenced_update
from recovery.runtime.db import transaction

log = logging.getLogger("recovery.actions")
# While an accepted pause holds the subscription, dunning messages would contradict it.
PAUSED_KINDS = frozenset({"reminder", "final_notice"})


def run_notify(ctx: StepContext, claimed: ClaimedAction) -> None:
    case, action = claimed.case, claimed.action
    template = (action.params or {}).get("template", "other")
    recipient = Recipient()
    if ctx.content is not None:
        recipient = read_recipient(ctx.gateway, case.stripe_customer_id, case.payment_method_id,
                                   ctx.stripe_account(case))
    now = ctx.clock.now()
    with transaction(ctx.sessions) as session:
        # A write first: it holds the claim (ClaimLost if gone) and, on SQLite, the write lock,
        # so the history read below cannot miss another worker's message.
        fenced_update(session, ACTIONS, claimed.claim, {"lease_until": action.lease_until})
        lock_account_contact(session, case.account_id)
        decision = decide_contact(
            session, kind=template, now=now, account_id=case.account_id,
            customer_id=case.stripe_customer_id, case_id=case.id,
            timezone=case.customer_timezone,
            policy=ctx.engine.planner.communication(session, case.account_id),
            unsubscribed=ctx.unsubscribed)
        if not decision.allowed:
            fenced_update(session, ACTIONS, claimed.claim, {
                "status": ActionStatus.canceled.value, "finished_at": now, "lease_until": None,
                "result": {"canceled": decision.reason, "template": template}})
            log.info("message not sent", extra={"action": action.id, "reason": decision.reason})
            return
        if decision.at > now:
            fenced_update(session, ACTIONS, claimed.claim, {
                "status": ActionStatus.scheduled.value, "due_at": decision.at,
                "claimed_at": None, "lease_until": None, "claimed_by": None,
                "result": {"deferred": decision.reason, "until": decision.at.isoformat()}})
            return
        if template in PAUSED_KINDS and paused_until(session, case.id, now) is not None:
            fenced_update(session, ACTIONS, claimed.claim, {
                "status": ActionStatus.canceled.value, "finished_at": now, "lease_until": None,
                "result": {"canceled": "collection is paused by an accepted offer",
                           "template": template}})
            return
        message = _message(ctx, session, case, template, now, message_id_for_action(action.id),
                           recipient)
        fenced_update(session, ACTIONS, claimed.claim, {
            "status": ActionStatus.done.value, "result": {"sent": template},
            "finished_at": now, "lease_until": None})
        queued = queue_message(session, message, case_id=case.id, action_id=action.id,
                               resend_at=now + ctx.resend_after)
    if queued is not None:
        deliver(ctx.sessions, ctx.clock, ctx.channel, queued, max_tries=ctx.message_max_tries)


def _message(ctx: StepContext, session, case, template: str, now, message_id: str,
             recipient: Recipient) -> OutgoingMessage:
    """The rendered message, with the offer the account's rules make in a reminder or the final
    notice (recorded as shown in this transaction); the plain one without message content."""
    if ctx.content is None:
        return compose(case.account_id, case.stripe_customer_id, case.stripe_invoice_id,
                       template, now, link=case.hosted_invoice_url, message_id=message_id)
    offer = None
    if template in KINDS_WITH_OFFER and ctx.content.setup.signer is not None:
        policy = ctx.content.setup.offers_override or \
            offers_policy_of(session.get(Account, case.account_id))
        offer = offer_for_message(session, case, template, policy, now)
    return ctx.content.for_case(session, case, template, now, message_id, recipient, offer)
