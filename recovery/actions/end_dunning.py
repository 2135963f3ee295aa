"""The end-of-dunning step: the account's final actions on an invoice nobody paid (void or mark
it uncollectible; cancel or pause the subscription), then the case is closed as exhausted."""

from __future__ import annotations

from models import RecoveryCase
from recovery.actions.step_context import ClaimedAction, StepContext
from recovery.errors import GatewayUnavailable

# How many times one run sends the cancel while Stripe is unavailable and the subscription is
# read back still running (the gateway repeats a DELETE never by itself: see ``_cancel``).
CANCEL_SENDS = 3


def run_end_dunning(ctx: StepContext, claimed: ClaimedAction) -> None:
    case, action = claimed.case, claimed.action
    account = ctx.stripe_account(case)
    with ctx.sessions() as session:
        policy = ctx.engine.planner.policy(session, case.account_id)
    invoice = ctx.gateway.retrieve_invoice(case.stripe_invoice_id, stripe_account=account)
    # A run cut short after the invoice step finds the invoice already in its end state.
    finished_before = invoice.status == policy.end_invoice and policy.end_invoice != "open"
    if invoice.status != "open" and not finished_before:
        ctx.settle(claimed, invoice.status)
        return
    done = [] if finished_before else _end_invoice(ctx.gateway, case, policy.end_invoice,
                                                   action, account)
    done += _end_subscription(ctx.gateway, case, policy.end_subscription, action, account,
                              again=finished_before)
    with ctx.finishing(claimed, {"ended": done}) as session:
        ctx.engine.dunning_ended(session, session.get(RecoveryCase, case.id), done)


def _end_invoice(gateway, case, how: str, action, account) -> list[str]:
    key = f"{action.idempotency_key}:invoice"
    try:
        if how == "uncollectible":
            gateway.mark_uncollectible(case.stripe_invoice_id, idempotency_key=key,
                                       stripe_account=account)
        elif how == "void":
            gateway.void_invoice(case.stripe_invoice_id, idempotency_key=key,
                                 stripe_account=account)
    except GatewayUnavailable:
        # A 5xx may come after the write went through: then the run goes on at once, rather
        # than being put off past the moment the subscription renews.
        if gateway.retrieve_invoice(case.stripe_invoice_id,
                                    stripe_account=account).status != how:
            raise
    return [f"invoice {how}"]


def _end_subscription(gateway, case, how: str, action, account, *, again: bool) -> list[str]:
    """``again``: an earlier run of this action got past its invoice step, and may have ended
    the subscription too before its answer was lost."""
    if not case.stripe_subscription_id or how == "past_due":
        return [f"subscription {how}"]
    key = f"{action.idempotency_key}:subscription"
    if how == "cancel":
        _cancel(gateway, case.stripe_subscription_id, key, account, again=again)
    elif how == "pause":
        gateway.pause_collection(case.stripe_subscription_id, "mark_uncollectible",
                                 idempotency_key=key, stripe_account=account)
    return [f"subscription {how}"]


def _cancel(gateway, subscription_id: str, key: str, account, *, again: bool) -> None:
    """Cancel the subscription once. A cancel is a DELETE, which Stripe does not replay by key
    (a second one is refused: already canceled), so whether an earlier send went through, this
    run's whose answer was lost or an earlier run's, is read from the subscription before the
    cancel is sent again. Sending it again at once keeps the end of dunning at its moment: a
    subscription left running past it renews, and its new invoice is charged."""
    if again and gateway.retrieve_subscription(subscription_id, stripe_account=account).ended:
        return
    for sent in range(1, CANCEL_SENDS + 1):
        try:
            gateway.cancel_subscription(subscription_id, idempotency_key=key,
                                        comment="payment recovery ended", stripe_account=account)
            return
        except GatewayUnavailable:
            if gateway.retrieve_subscription(subscription_id, stripe_account=account).ended:
                return
            if sent == CANCEL_SENDS:
                raise
