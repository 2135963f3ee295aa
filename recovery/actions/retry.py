"""The retry step: charge an open invoice again, on the payment method whose card the network
rules checked, and hand what Stripe answered to the engine.

Before the charge the invoice and its subscription are re-read (never charge an invoice that is
paid, void or uncollectible, or whose subscription is canceled) and the card's budget is checked
again. The charge names its payment method, the case's (the one the retry was planned for), so
Stripe cannot fall back on another card from the subscription's or the customer's defaults; a
card the customer added is first made their default, so Stripe's own collection of later
invoices uses it too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import timedelta

from models import ActionStatus, RecoveryCase
from recovery.actions.step_context import ClaimedAction, StepContext
from recovery.engine import case_store as cases
from recovery.errors import ChargeRefused, GatewayUnavailable
from recovery.rules.network_rules import budget_key, check_attempt
from recovery.stripe_api.results import PaymentOutcome, Refusal
from webhooks.facts import CardInfo

log = logging.getLogger("recovery.actions")
# How long a payment still in flight is left before the invoice is looked at again: a card
# payment settles in minutes, a bank debit in days.
PROCESSING_RECHECK = timedelta(hours=6)


@dataclass(frozen=True)
class ChargeTarget:
    """The payment method a retry charges, and the card the network rules check for it."""

    payment_method_id: str
    fingerprint: str | None  # the key its attempts are counted under (``budget_key``)
    brand: str | None
    make_default: bool = False
    read_from_stripe: bool = False  # the case did not know it: it learns it with the outcome

    def card(self) -> CardInfo:
        return CardInfo(self.fingerprint, self.brand, payment_method_id=self.payment_method_id)


def run_retry(ctx: StepContext, claimed: ClaimedAction) -> None:
    case, account = claimed.case, ctx.stripe_account(claimed.case)
    invoice = ctx.gateway.retrieve_invoice(case.stripe_invoice_id, stripe_account=account)
    if invoice.status != "open":
        ctx.settle(claimed, invoice.status)
        return
    if _subscription_ended(ctx, claimed, account):
        return
    target = charge_target(ctx, claimed, account)
    if target is None:
        _ask_for_a_card(ctx, claimed, "no payment method is known for the customer")
        return
    made = _answer_reported_by_stripe(ctx, claimed)
    if made is not None:
        _record(ctx, claimed, target, made, account)
        return
    decision = _budget_refusal(ctx, case.account_id, target)
    if decision is not None:
        _refused_by_rules(ctx, claimed, target, decision)
        return
    if target.make_default and case.stripe_customer_id:
        ctx.gateway.set_default_payment_method(
            case.stripe_customer_id, target.payment_method_id,
            subscription_id=case.stripe_subscription_id,
            idempotency_key=claimed.action.idempotency_key, stripe_account=account)
    outcome = _pay(ctx, claimed, target, account)
    if outcome is not None:
        _record(ctx, claimed, target, outcome, account)


def _subscription_ended(ctx: StepContext, claimed: ClaimedAction, account: str | None) -> bool:
    case = claimed.case
    if not case.stripe_subscription_id:
        return False
    subscription = ctx.gateway.retrieve_subscription(case.stripe_subscription_id,
                                                     stripe_account=account)
    if not subscription.ended:
        return False
    result = {"skipped": f"subscription {subscription.status}"}
    with ctx.finishing(claimed, result, ActionStatus.canceled) as session:
        ctx.engine.subscription_canceled(session, case.account_id, subscription.id,
                                         at=ctx.clock.now())
    return True


def charge_target(ctx: StepContext, claimed: ClaimedAction,
                  account: str | None) -> ChargeTarget | None:
    """The case's payment method with the card the engine knows for it, taken together (what
    the retry was planned with, unless the case learnt better since); when the engine never
    learnt which method failed, the customer's default as Stripe holds it now."""
    case, planned = claimed.case, claimed.action.params or {}
    if case.payment_method_id:
        # Only the method the customer added, as planned, becomes their default.
        make_default = bool(planned.get("make_default")) and \
            planned.get("payment_method") == case.payment_method_id
        return ChargeTarget(case.payment_method_id, case.card_fingerprint, case.card_brand,
                            make_default)
    card = ctx.gateway.customer_default_card(case.stripe_customer_id, stripe_account=account) \
        if case.stripe_customer_id else None
    if card is None or not card.payment_method_id:
        return None
    key = budget_key(card.kind, card.fingerprint, card.payment_method_id)
    return ChargeTarget(card.payment_method_id, key, card.brand, read_from_stripe=True)


def _case(ctx: StepContext, session, claimed: ClaimedAction,
          target: ChargeTarget | None = None) -> RecoveryCase:
    """The case, in the finishing transaction, knowing the card the retry charged."""
    case = session.get(RecoveryCase, claimed.case.id)
    if target is not None and target.read_from_stripe:
        ctx.engine.planner.learn_card(case, target.card())
    return case


def _answer_reported_by_stripe(ctx: StepContext,
                               claimed: ClaimedAction) -> PaymentOutcome | None:
    """This retry's charge was already made and declined: an earlier run lost the answer (a
    timeout or reset after the call, a dead worker, a 5xx after the charge) and Stripe's event,
    carrying the retry's key, reported the decline meanwhile. That decline is this retry's
    outcome. Going on would charge again for one decision, or have the network rules refuse the
    retry for its own charge and plan it anew a day later."""
    with ctx.sessions() as session:
        row = cases.decline_of_action(session, claimed.case.account_id, claimed.action.id)
    if row is None:
        return None
    decline = replace(cases.decline_of(row), charge_id=row.stripe_charge_id,
                      payment_intent_id=row.stripe_payment_intent_id)
    return PaymentOutcome(paid=False, decline=decline, card=None, charge_id=row.stripe_charge_id,
                          payment_intent_id=row.stripe_payment_intent_id)


def _budget_refusal(ctx: StepContext, account_id: str, target: ChargeTarget):
    # No fingerprint is no exemption: check_attempt refuses a card it cannot count.
    with ctx.sessions() as session:
        history = cases.card_history(session, account_id, target.fingerprint)
        limits = ctx.engine.planner.policy(session, account_id).limits
    decision = check_attempt(target.fingerprint, target.brand, ctx.clock.now(), history, limits)
    return None if decision.allowed else decision


def _refused_by_rules(ctx: StepContext, claimed: ClaimedAction, target: ChargeTarget,
                      decision) -> None:
    log.warning("retry refused by network rules", extra={
        "invoice": claimed.case.stripe_invoice_id, "reason": decision.reason,
        "rule": decision.rule})
    result = {"refused": decision.reason, "rule": decision.rule}
    with ctx.finishing(claimed, result, ActionStatus.canceled) as session:
        case = _case(ctx, session, claimed, target)
        label = ctx.engine.planner.latest_label(session, case)
        ctx.engine.planner.replan(session, case, label=label, card_changed=False)


def _pay(ctx: StepContext, claimed: ClaimedAction, target: ChargeTarget,
         account: str | None) -> PaymentOutcome | None:
    """Charge; None when Stripe failed but the invoice turned out settled (the case is closed)."""
    case = claimed.case
    try:
        return ctx.gateway.pay_invoice(
            case.stripe_invoice_id, idempotency_key=claimed.action.idempotency_key,
            payment_method_id=target.payment_method_id, stripe_account=account)
    except GatewayUnavailable as problem:
        if not problem.key_spent:
            raise
        # A 5xx may come after the charge went through: only a still-open invoice is tried
        # again (by the runner, under a new key, since Stripe replays this answer for its key).
        invoice = ctx.gateway.retrieve_invoice(case.stripe_invoice_id, stripe_account=account)
        if invoice.status != "open":
            ctx.settle(claimed, invoice.status)
            return None
        # Still open, but the call may have been declined: then that decline is this retry's
        # outcome, and what it says (a network's "wait", "never") must hold before the next.
        try:
            made = _unrecorded_decline(ctx, case, account)
        except GatewayUnavailable:
            raise problem from None
        if made is None:
            raise
        return made


def _unrecorded_decline(ctx: StepContext, case: RecoveryCase,
                        account: str | None) -> PaymentOutcome | None:
    """The invoice's newest attempt, when it is a decline the engine has not recorded: after a
    5xx to our pay call, that is the charge the call made (counted once whoever reports it, by
    its charge id)."""
    details = ctx.gateway.latest_attempt(case.stripe_invoice_id, stripe_account=account)
    if details is None or details.charge_id is None or details.succeeded:
        return None
    with ctx.sessions() as session:
        if cases.attempt_by_charge(session, case.account_id, details.charge_id) is not None:
            return None
    return PaymentOutcome(paid=False, decline=details.decline, card=details.card,
                          charge_id=details.charge_id,
                          payment_intent_id=details.payment_intent_id)


def _record(ctx: StepContext, claimed: ClaimedAction, target: ChargeTarget,
            outcome: PaymentOutcome, account: str | None) -> None:
    if outcome.refusal is not None:
        _after_refusal(ctx, claimed, target, outcome, account)
        return
    if outcome.pending:
        _recheck(ctx, claimed, target, {"processing": outcome.payment_intent_id},
                 ActionStatus.done, "the payment is processing: look at the invoice again")
        return
    # A decline names no card when Stripe leaves it out: it is the one this retry named.
    outcome = replace(outcome, card=outcome.card or target.card())
    result = {"paid": outcome.paid, "charge": outcome.charge_id,
              "decline": _decline_label(outcome), "payment_method": target.payment_method_id}
    with ctx.finishing(claimed, result) as session:
        case = _case(ctx, session, claimed, target)
        # A payment that needs the customer to authenticate is an attempt too: recording it
        # counts it, and its class (authentication) makes the case wait for the customer.
        # The retry's params carry the decision that timed it: its attempt keeps it.
        ctx.engine.record_retry_outcome(session, case, claimed.action.id, outcome,
                                        claimed.action.params)


def _after_refusal(ctx: StepContext, claimed: ClaimedAction, target: ChargeTarget,
                   outcome: PaymentOutcome, account: str | None) -> None:
    """Stripe charged nothing. Only a settled invoice closes the case; while it is open the
    refusal decides what follows, and one no step understands fails the action loudly."""
    case = claimed.case
    invoice = ctx.gateway.retrieve_invoice(case.stripe_invoice_id, stripe_account=account)
    if invoice.status != "open":
        ctx.settle(claimed, invoice.status)
    elif outcome.refusal == Refusal.no_payment_method:
        _ask_for_a_card(ctx, claimed, f"Stripe has no payment method to charge "
                                      f"({outcome.not_payable})")
    elif outcome.refusal == Refusal.processing:
        _recheck(ctx, claimed, target, {"refused": outcome.not_payable}, ActionStatus.canceled,
                 "a payment of the invoice is still processing: look at it again")
    else:
        raise ChargeRefused(f"Stripe refused to charge open invoice {case.stripe_invoice_id}: "
                            f"{outcome.not_payable}")


def _ask_for_a_card(ctx: StepContext, claimed: ClaimedAction, why: str) -> None:
    log.warning("retry has no payment method to charge",
                extra={"invoice": claimed.case.stripe_invoice_id, "why": why})
    with ctx.finishing(claimed, {"refused": why}, ActionStatus.canceled) as session:
        case = _case(ctx, session, claimed)
        ctx.engine.planner.wait_for_new_card(session, case, f"no retry: {why}; ask for a card")


def _recheck(ctx: StepContext, claimed: ClaimedAction, target: ChargeTarget, result: dict,
             status: ActionStatus, reason: str) -> None:
    at = ctx.clock.now() + PROCESSING_RECHECK
    with ctx.finishing(claimed, result, status) as session:
        case = _case(ctx, session, claimed, target)
        ctx.engine.planner.recheck_later(session, case, at, reason)


def _decline_label(outcome: PaymentOutcome) -> str | None:
    decline = outcome.decline
    return (decline.decline_code or decline.failure_code) if decline else None
