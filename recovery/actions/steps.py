"""What each kind of scheduled action does. Each step re-reads state, calls out once, and
records the outcome through the engine in a short transaction.

Before every charge the invoice and its subscription are re-read (never charge an invoice that
is paid, void or uncollectible, or whose subscription is canceled) and the card's network budget
is checked again.
"""

from __future__ import annotations

import logging

from sqlalchemy import select, update

from models import ActionKind, ActionStatus, CaseStatus, RecoveryCase, ScheduledAction
from recovery.engine import case_store as cases
from recovery.engine.case_store import ACTIONS
from recovery.engine.fact_handlers import RecoveryEngine
from recovery.messaging.notifier import MessageChannel, compose
from recovery.rules.network_rules import check_attempt
from recovery.runtime.clock import Clock
from recovery.runtime.db import SessionFactory, transaction

log = logging.getLogger("recovery.actions")


class ActionSteps:
    def __init__(self, sessions: SessionFactory, clock: Clock, engine: RecoveryEngine,
                 channel: MessageChannel) -> None:
        self.sessions = sessions
        self.clock = clock
        self.engine = engine
        self.gateway = engine.gateway
        self.channel = channel
        self._steps = {ActionKind.retry.value: self._retry,
                       ActionKind.take_ownership.value: self._take_ownership,
                       ActionKind.notify.value: self._notify,
                       ActionKind.end_dunning.value: self._end_dunning}

    def run(self, action_id: int) -> None:
        with self.sessions() as session:
            action, case = session.execute(
                select(ScheduledAction, RecoveryCase)
                .join(RecoveryCase, RecoveryCase.id == ScheduledAction.case_id)
                .where(ScheduledAction.id == action_id)).one()
        if action.status != ActionStatus.claimed.value:
            return
        if case.status != CaseStatus.open.value and not _after_close(action):
            self._finish(action.id, {"skipped": f"case {case.status}"}, ActionStatus.canceled)
            return
        self._steps[action.kind](action, case)

    # Retry

    def _retry(self, action: ScheduledAction, case: RecoveryCase) -> None:
        account = self.engine.stripe_account_of(case.account_id)
        invoice = self.gateway.retrieve_invoice(case.stripe_invoice_id, stripe_account=account)
        if invoice.status != "open":
            self._invoice_not_open(action, case, invoice.status)
            return
        if self._subscription_ended(action, case, account):
            return
        refusal = self._budget_refusal(case)
        if refusal is not None:
            self._refused(action, case, refusal)
            return
        outcome = self.gateway.pay_invoice(case.stripe_invoice_id,
                                           idempotency_key=action.idempotency_key,
                                           stripe_account=account)
        if outcome.not_payable:
            # Paid, voided or written off meanwhile: the invoice's status says which.
            invoice = self.gateway.retrieve_invoice(case.stripe_invoice_id, stripe_account=account)
            self._invoice_not_open(action, case, invoice.status)
            return
        with transaction(self.sessions) as session:
            # Finished first: the case's next step can only be written once this one is over.
            self._mark(session, action.id, {"paid": outcome.paid, "charge": outcome.charge_id,
                                            "decline": _decline_label(outcome)})
            case = session.get(RecoveryCase, case.id)
            # A payment that needs the customer to authenticate is an attempt too: recording it
            # counts it, and its class (authentication) makes the case wait for the customer.
            self.engine.record_retry_outcome(session, case, action.id, outcome)

    def _subscription_ended(self, action: ScheduledAction, case: RecoveryCase, account) -> bool:
        if not case.stripe_subscription_id:
            return False
        subscription = self.gateway.retrieve_subscription(case.stripe_subscription_id,
                                                          stripe_account=account)
        if not subscription.ended:
            return False
        with transaction(self.sessions) as session:
            self._mark(session, action.id, {"skipped": f"subscription {subscription.status}"},
                       ActionStatus.canceled)
            self.engine.subscription_canceled(session, case.account_id, subscription.id,
                                              at=self.clock.now())
        return True

    def _budget_refusal(self, case: RecoveryCase):
        # No fingerprint is no exemption: check_attempt refuses a card it cannot count.
        with self.sessions() as session:
            history = cases.card_history(session, case.account_id, case.card_fingerprint)
            limits = self.engine.planner.policy(session, case.account_id).limits
        decision = check_attempt(case.card_fingerprint, case.card_brand, self.clock.now(),
                                 history, limits)
        return None if decision.allowed else decision

    def _refused(self, action: ScheduledAction, case: RecoveryCase, decision) -> None:
        log.warning("retry refused by network rules", extra={
            "invoice": case.stripe_invoice_id, "reason": decision.reason, "rule": decision.rule})
        with transaction(self.sessions) as session:
            self._mark(session, action.id, {"refused": decision.reason, "rule": decision.rule},
                       ActionStatus.canceled)
            case = session.get(RecoveryCase, case.id)
            label = self.engine.planner.latest_label(session, case)
            self.engine.planner.replan(session, case, label=label, card_changed=False)

    def _invoice_not_open(self, action: ScheduledAction, case: RecoveryCase, status) -> None:
        with transaction(self.sessions) as session:
            case = session.get(RecoveryCase, case.id)
            self.engine.invoice_settled_elsewhere(session, case, status)
            self._mark(session, action.id, {"skipped": f"invoice {status}"}, ActionStatus.canceled)

    # Other steps

    def _take_ownership(self, action: ScheduledAction, case: RecoveryCase) -> None:
        self.gateway.set_auto_advance(
            case.stripe_invoice_id, False, idempotency_key=action.idempotency_key,
            stripe_account=self.engine.stripe_account_of(case.account_id))
        self._finish(action.id, {"auto_advance": False})

    def _notify(self, action: ScheduledAction, case: RecoveryCase) -> None:
        template = (action.params or {}).get("template", "other")
        message = compose(case.account_id, case.stripe_customer_id, case.stripe_invoice_id,
                          template, self.clock.now(), link=case.hosted_invoice_url)
        with transaction(self.sessions) as session:
            # The row first: a crash after delivery then cannot send the message twice.
            if not cases.record_message(session, case, action.id, message):
                return
            self._mark(session, action.id, {"sent": template})
        self.channel.deliver(message)

    def _end_dunning(self, action: ScheduledAction, case: RecoveryCase) -> None:
        account = self.engine.stripe_account_of(case.account_id)
        with self.sessions() as session:
            policy = self.engine.planner.policy(session, case.account_id)
        invoice = self.gateway.retrieve_invoice(case.stripe_invoice_id, stripe_account=account)
        # A run cut short after the invoice step finds the invoice already in its end state.
        finished_before = invoice.status == policy.end_invoice and policy.end_invoice != "open"
        if invoice.status != "open" and not finished_before:
            self._invoice_not_open(action, case, invoice.status)
            return
        done = [] if finished_before else _end_invoice(self.gateway, case, policy.end_invoice,
                                                       action, account)
        done += _end_subscription(self.gateway, case, policy.end_subscription, action, account)
        with transaction(self.sessions) as session:
            case = session.get(RecoveryCase, case.id)
            cases.close_case(session, case, CaseStatus.exhausted, self.clock.now())
            self._mark(session, action.id, {"ended": done})

    def _finish(self, action_id: int, result: dict, status=ActionStatus.done) -> None:
        with transaction(self.sessions) as session:
            self._mark(session, action_id, result, status)

    def _mark(self, session, action_id: int, result: dict, status=ActionStatus.done) -> None:
        session.execute(
            update(ACTIONS).where(ACTIONS.c.id == action_id)
            .values(status=status.value, result=result, finished_at=self.clock.now(),
                    lease_until=None))


def _after_close(action: ScheduledAction) -> bool:
    return action.kind == ActionKind.notify.value and \
        (action.params or {}).get("template") == "payment_recovered"


def _decline_label(outcome) -> str | None:
    decline = outcome.decline
    return (decline.decline_code or decline.failure_code) if decline else None


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
