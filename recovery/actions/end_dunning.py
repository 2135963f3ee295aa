"""The end-of-dunning step: the account's final actions on an invoice nobody paid (void or mark
it uncollectible; cancel or pause the subscription), then the case is closed as exhausted."""

from __future__ import annotations

from models import RecoveryCase
from recovery.actions.step_context import ClaimedAction, StepContext


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
    done += _end_subscription(ctx.gateway, case, policy.end_subscription, action, account)
    with ctx.finishing(claimed, {"ended": done}) as session:
        ctx.engine.dunning_ended(session, session.get(RecoveryCase, case.id), done)


def _end_invoice(gateway, case, how: str, action, account) -> list[str]:
    key = f"{action.idempotency_key}:invoice"
    if how == "uncollectible":
        gateway.mark_uncollectible(case.stripe_invoice_id, idempotency_key=key,
                                   stripe_account=account)
    elif how == "void":
        gateway.void_invoice(case.stripe_invoice_id, idempotency_key=key, stripe_account=account)
    return [f"invoice {how}"]


def _end_subscription(gateway, case, how: str, action, account) -> list[str]:
    if not case.stripe_subscription_id or how == "past_due":
        return [f"subscription {how}"]
    key = f"{action.idempotency_key}:subscription"
    if how == "cancel":
        gateway.cancel_subscription(case.stripe_subscription_id, idempotency_key=key,
                                    comment="payment recovery ended", stripe_account=account)
    elif how == "pause":
        gateway.pause_collection(case.stripe_subscription_id, "mark_uncollectible",
                                 idempotency_key=key, stripe_account=account)
    return [f"subscription {how}"]
