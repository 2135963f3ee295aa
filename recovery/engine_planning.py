"""Turning a case's state into its next scheduled steps, with the account's policy.

The pure decision is ``policy.plan_next_retry``; this module gathers its inputs from the
database (attempt history per card, retries made) and writes the resulting actions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from sqlmodel import Session

from models import Account, ActionKind, ChargeAttempt, RecoveryCase, WaitingFor
from recovery import cases
from recovery.clock import Clock
from recovery.declines import DeclineClass
from recovery.errors import PolicyError
from recovery.policy import BaselineScorer, Plan, RetryContext, RetryPolicy, Scorer, plan_next_retry
from webhooks.facts import CardInfo

log = logging.getLogger("recovery.planning")
REPLANNED_KINDS = (ActionKind.retry.value, ActionKind.end_dunning.value)
NOTICE_FOR_WAIT = {"wait_new_card": "card_update_request",
                   "wait_authentication": "authentication_required"}
WAITING_FOR_PLAN = {"retry": WaitingFor.retry, "wait_new_card": WaitingFor.new_card,
                    "wait_authentication": WaitingFor.authentication, "end": WaitingFor.end}


def policy_of(account: Account | None) -> RetryPolicy:
    try:
        return RetryPolicy.from_dict(account.policy if account else None)
    except PolicyError as problem:
        # A stored policy is validated when it is saved; if one is still broken, keep recovering
        # with the defaults rather than stopping every case of the account.
        log.error("stored policy is invalid; using defaults", extra={"error": str(problem)})
        return RetryPolicy()


class Planner:
    def __init__(self, clock: Clock, scorer: Scorer | None = None,
                 timezone_of: Callable[[str | None], str] = lambda _customer: "UTC",
                 policy_override: RetryPolicy | None = None) -> None:
        self.clock = clock
        self.scorer = scorer or BaselineScorer()
        self.timezone_of = timezone_of
        self.policy_override = policy_override  # the sandbox compares policies with this

    def policy(self, session: Session, account_id: str) -> RetryPolicy:
        if self.policy_override is not None:
            return self.policy_override
        return policy_of(session.get(Account, account_id))

    def on_open(self, session: Session, case: RecoveryCase) -> None:
        if self.policy(session, case.account_id).ownership == "exclusive":
            cases.schedule(session, case, ActionKind.take_ownership, self.clock.now(),
                           "take over retries from Stripe (auto_advance=false)", self.clock.now())

    def after_failure(self, session: Session, case: RecoveryCase, attempt: ChargeAttempt) -> None:
        label = cases.classify_row(attempt) if (attempt.failure_code or attempt.decline_code
                                               or attempt.outcome_type) else None
        case.last_decline_class = label.decline_class.value if label else None
        self.replan(session, case, label=label, card_changed=False)

    def after_card_change(self, session: Session, case: RecoveryCase, card: CardInfo | None,
                          payment_method_id: str | None) -> None:
        now = self.clock.now()
        if card is not None and card.fingerprint:
            case.card_fingerprint, case.card_brand = card.fingerprint, card.brand
        case.payment_method_id = payment_method_id or case.payment_method_id
        case.card_changed_at, case.updated_at = now, now
        if case.waiting_for in (WaitingFor.new_card.value, WaitingFor.retry.value,
                                WaitingFor.end.value):
            self.replan(session, case, label=self.latest_label(session, case), card_changed=True)

    def wait_for_authentication(self, session: Session, case: RecoveryCase) -> None:
        policy = self.policy(session, case.account_id)
        window_end = case.first_failed_at + timedelta(days=policy.window_days)
        self._apply(session, case, Plan("wait_authentication", window_end,
                                        "no retry: the customer must authenticate the payment"))

    def on_recovered(self, session: Session, case: RecoveryCase) -> None:
        self._notify(session, case, "payment_recovered", "payment recovered")

    def replan(self, session: Session, case: RecoveryCase, *, label, card_changed: bool) -> Plan:
        # Sessions do not autoflush (it cost a flush per query); planning reads the attempt log,
        # so write out what this unit of work changed first.
        session.flush()
        policy = self.policy(session, case.account_id)
        context = RetryContext(
            now=self.clock.now(), first_failed_at=case.first_failed_at,
            retries_done=cases.retries_done(session, case.id), classification=label,
            card_fingerprint=case.card_fingerprint, card_brand=case.card_brand,
            history=cases.card_history(session, case.account_id, case.card_fingerprint),
            timezone=case.customer_timezone, card_changed=card_changed,
            stripe_next_attempt=case.stripe_next_payment_attempt,
        )
        plan = plan_next_retry(policy, context, self.scorer)
        self._apply(session, case, plan)
        if plan.kind == "retry" and label is not None and \
                label.decline_class == DeclineClass.RETRY and not card_changed:
            self._notify(session, case, "payment_failed", "tell the customer the payment failed")
        return plan

    def _apply(self, session: Session, case: RecoveryCase, plan: Plan) -> None:
        now = self.clock.now()
        cases.cancel_actions(session, case.id, now, REPLANNED_KINDS)
        case.waiting_for = WAITING_FOR_PLAN[plan.kind].value
        case.last_reason, case.updated_at = plan.reason, now
        kind = ActionKind.retry if plan.kind == "retry" else ActionKind.end_dunning
        cases.schedule(session, case, kind, plan.at or now, plan.reason, now)
        notice = NOTICE_FOR_WAIT.get(plan.kind)
        if notice:
            cases.cancel_actions(session, case.id, now, (ActionKind.retry.value,))
            self._notify(session, case, notice, plan.reason)
        log.info("planned", extra={"invoice": case.stripe_invoice_id, "plan": plan.kind,
                                   "at": plan.at, "reason": plan.reason})

    def _notify(self, session: Session, case: RecoveryCase, template: str, reason: str) -> None:
        if not cases.already_notified(session, case.id, template):
            cases.schedule(session, case, ActionKind.notify, self.clock.now(), reason,
                           self.clock.now(), params={"template": template})

    def latest_label(self, session: Session, case: RecoveryCase):
        failed = [a for a in cases.case_attempts(session, case.id) if not a.succeeded]
        return cases.classify_row(failed[-1]) if failed else None
