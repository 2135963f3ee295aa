"""The notify step: write the customer's message ``pending``, with a message id derived from the
action, in the transaction that finishes the action; then hand it to the channel.

A crash between that commit and the delivery, or a channel that refuses, leaves the message
pending, and the re-send job (``recovery.messaging.delivery``) delivers it later with the same
message id: a message is never lost, and never sent under two ids.
"""

from __future__ import annotations

from recovery.actions.step_context import ClaimedAction, StepContext
from recovery.messaging.delivery import deliver, queue_message
from recovery.messaging.notifier import compose, message_id_for_action


def run_notify(ctx: StepContext, claimed: ClaimedAction) -> None:
    case, action = claimed.case, claimed.action
    template = (action.params or {}).get("template", "other")
    now = ctx.clock.now()
    message = compose(case.account_id, case.stripe_customer_id, case.stripe_invoice_id,
                      template, now, link=case.hosted_invoice_url,
                      message_id=message_id_for_action(action.id))
    with ctx.finishing(claimed, {"sent": template}) as session:
        queued = queue_message(session, message, case_id=case.id, action_id=action.id,
                               resend_at=now + ctx.resend_after)
    if queued is not None:
        deliver(ctx.sessions, ctx.clock, ctx.channel, queued, max_tries=ctx.message_max_tries)
