"""Turning a case's state into its next scheduled steps, with the account's policy.

The pure decision is ``policy.plan_next_retries``; this module gathers its inputs from the
database (attempt history per card, retries made) and writes the resulting actions. Planning is
set-based: ``replan_many`` reads the inputs of many cases in a few queries and writes their
actions in one insert. Inside ``deferring(session)`` (the ingest job's batches) failures are
queued and planned together when the block ends, so a burst of failed renewals costs a handful
of statements instead of a dozen per case.

Alongside the step, the account's communication policy (``rules.communication``) decides the
customer's messages: the opening notice the plan calls for (failure notice, card-update or
authentication request), then, once the customer has been told, the reminders and the final
notice at their times, and the receipt on recovery. Each is a notify action scheduled at most
once per case (keyed by its step); closing a case cancels those not yet sent.

A case has one live step, its retry or its end of dunning: planning locks the case rows it plans
(``case_store.lock_cases``) and replaces the step, leaves a step a worker is running to that
step's own outcome, and the database's unique index refuses a second one whatever races.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlmodel import Session

from models import (
    Account,
    ActionKind,
    CaseStatus,
    ChargeAttempt,
    OutboundEventType,
    RecoveryCase,
    WaitingFor,
)
from recovery.engine import case_store as cases
from recovery.engine.case_store import ActionDraft, ActionLog
from recovery.engine.due_times import allowed_due_at
from recovery.engine.outbound_events import emit_case_event
from recovery.engine.policies import case_policies, communication_of, policy_of
from recovery.rules.communication import (
    OPENING_KINDS,
    CommunicationPolicy,
    Notice,
    follow_up_notices,
    opening_notice,
)
from recovery.rules.declines import Classification
from recovery.rules.network_rules import budget_key
from recovery.rules.policy import (
    BaselineScorer,
    Plan,
    RetryContext,
    RetryPolicy,
    Scorer,
    plan_next_retries,
)
from recovery.runtime.clock import Clock
from webhooks.facts import CardInfo

log = logging.getLogger("recovery.planning")
REPLANNED_KINDS = (ActionKind.retry.value, ActionKind.end_dunning.value)
DEFERRED_PLANS = "recovery.deferred_plans"  # session.info key of the queued plan requests
WAITING_FOR_PLAN = {"retry": WaitingFor.retry, "wait_new_card": WaitingFor.new_card,
                    "wait_authentication": WaitingFor.authentication,
                    "wait_reconcile": WaitingFor.reconcile, "end": WaitingFor.end}
Notices = list[Notice]  # messages to schedule beside a plan (the receipt, on recovery)
# Plans after which the customer can still act, so reminders and the final notice stay useful.
FOLLOWED_UP = frozenset({"retry", "wait_new_card", "wait_authentication", "end"})
# Plans after which retrying alone will not recover the case: the customer must give a new card,
# or only the end of dunning is left. The first one tells the account (``customer.at_risk``).
AT_RISK_PLANS = frozenset({"wait_new_card", "end"})


@dataclass(frozen=True)
class PlanRequest:
    """Plan this case's next step, given its latest decline."""

    case: RecoveryCase
    label: Classification | None
    card_changed: bool = False
    new_decline: bool = False  # the label is a new failure's: the case records its class
    make_default: bool = False  # the customer added the case's card: the retry makes it default


def retry_params(case: RecoveryCase, make_default: bool, plan: Plan | None = None) -> dict:
    """What a retry records: the payment method it charges and the card the network rules
    checked for it, taken together, so the card checked is the card charged; and how its time
    was chosen (``decision``: propensity, scorer, explanation, the chosen hour's features),
    which its charge attempt keeps as the scorer's training and evaluation log."""
    params = {"payment_method": case.payment_method_id, "card_fingerprint": case.card_fingerprint,
              "card_brand": case.card_brand}
    if make_default:
        params["make_default"] = True
    if plan is not None:
        params.update(decision_params(plan))
    return params


def decision_params(plan: Plan) -> dict:
    """How the plan's time was chosen, for its action's params ({} if nothing chose it)."""
    if plan.propensity is None:
        return {}
    return {"decision": {
        "propensity": plan.propensity, "scorer_version": plan.scorer_version,
        "chosen_at": plan.at.isoformat() if plan.at and plan.kind == "retry" else None,
        "explanation": dict(plan.explanation or {}),
        "snapshot": dict(plan.features) if plan.features else None}}


def attempt_features(params: dict | None) -> tuple[dict | None, str | None]:
    """What a retry's charge attempt records of the decision that timed it (its ``features``
    and ``scorer_version``), from the retry's params; (None, None) for an untimed retry."""
    decision = (params or {}).get("decision")
    if not decision:
        return None, None
    features = {key: value for key, value in decision.items() if key != "scorer_version"}
    return features, decision.get("scorer_version")


class Planner:
    def __init__(self, clock: Clock, scorer: Scorer | None = None,
                 timezone_of: Callable[[str | None], str | None] = lambda _customer: None,
                 policy_override: RetryPolicy | None = None,
                 communication_override: CommunicationPolicy | None = None,
                 send_messages: bool = True) -> None:
        self.clock = clock
        self.scorer = scorer or BaselineScorer()
        # A directory of customers' time zones (the sandbox knows its people's); None for a
        # customer it does not know: the zone then comes from what Stripe holds.
        self.timezone_of = timezone_of
        self.policy_override = policy_override  # the sandbox compares policies with this
        # False: no customer message is ever scheduled (the sandbox's "retries only" row
        # measures what the retries recover alone).
        self.send_messages = send_messages
        if not send_messages:
            communication_override = CommunicationPolicy(enabled=False)
        self.communication_override = communication_override

    def policy(self, session: Session, account_id: str) -> RetryPolicy:
        if self.policy_override is not None:
            return self.policy_override
        return policy_of(session.get(Account, account_id))

    def case_policies(self, session: Session, cases: Sequence[RecoveryCase]
                      ) -> dict[int, tuple[RetryPolicy, str | None]]:
        """Each case's retry policy, by case id: its account's first segment that matches the
        case, else the account's own; with the segment's name (None: no segment)."""
        if self.policy_override is not None:
            return {case.id: (self.policy_override, None) for case in cases}
        return case_policies(session, cases, self.clock.now())

    def communication(self, session: Session, account_id: str) -> CommunicationPolicy:
        """The account's communication policy (the sandbox may set one for every account)."""
        if self.communication_override is not None:
            return self.communication_override
        return communication_of(session.get(Account, account_id))

    def on_open(self, session: Session, case: RecoveryCase) -> None:
        if self.policy(session, case.account_id).ownership == "exclusive":
            now = self.clock.now()
            cases.schedule_many(session, [ActionDraft(
                case, ActionKind.take_ownership, now,
                "take over retries from Stripe (auto_advance=false)")], now)

    def after_failure(self, session: Session, case: RecoveryCase, attempt: ChargeAttempt,
                      card_changed: bool = False) -> None:
        label = cases.classify_row(attempt) if (attempt.failure_code or attempt.decline_code
                                               or attempt.outcome_type) else None
        request = PlanRequest(case, label, card_changed=card_changed, new_decline=True)
        queue = session.info.get(DEFERRED_PLANS)
        if queue is None:
            self.replan_many(session, [request])
            return
        if case.id in queue:
            self.plan_deferred(session)  # a second failure of one case: plan the first one first
        queue[case.id] = request

    @contextmanager
    def deferring(self, session: Session) -> Iterator[None]:
        """Queue failures met inside the block and plan them together when it ends.

        Whoever handles other facts inside the block calls ``plan_deferred`` first, so nothing
        reads a case's plan before it is made."""
        session.info[DEFERRED_PLANS] = {}
        try:
            yield
            self.plan_deferred(session)
        finally:
            session.info.pop(DEFERRED_PLANS, None)

    def plan_deferred(self, session: Session) -> None:
        queue = session.info.get(DEFERRED_PLANS)
        if not queue:
            return
        requests = list(queue.values())
        queue.clear()
        self.replan_many(session, requests)

    def after_card_change(self, session: Session, case: RecoveryCase, card: CardInfo | None,
                          payment_method_id: str | None, *, added_by_customer: bool = False
                          ) -> None:
        now = self.clock.now()
        cases.lock_cases(session, [case.id])  # decide on what the case waits for now
        if case.status != CaseStatus.open.value:
            return
        payment_method_id = payment_method_id or (card.payment_method_id if card else None)
        if payment_method_id is not None:
            # The new method is what the next retry charges: its key, or none if it has no
            # fingerprint (then no retry: the old card's budget says nothing about this one).
            case.payment_method_id = payment_method_id
            case.card_fingerprint = budget_key(card.kind, card.fingerprint,
                                               payment_method_id) if card else None
            case.card_brand = card.brand if card else None
        case.card_changed_at, case.updated_at = now, now
        if case.waiting_for in (WaitingFor.new_card.value, WaitingFor.retry.value,
                                WaitingFor.end.value):
            self.replan(session, case, label=self.latest_label(session, case), card_changed=True,
                        make_default=added_by_customer)

    @staticmethod
    def learn_card(case: RecoveryCase, card: CardInfo) -> None:
        """The method Stripe holds on file for a case that never learnt which one failed: the
        case plans with that card from now on."""
        case.payment_method_id = card.payment_method_id
        case.card_fingerprint = budget_key(card.kind, card.fingerprint, card.payment_method_id)
        case.card_brand = card.brand

    def wait_for_authentication(self, session: Session, case: RecoveryCase) -> None:
        self._wait(session, case, "wait_authentication",
                   "no retry: the customer must authenticate the payment")

    def wait_for_new_card(self, session: Session, case: RecoveryCase, reason: str) -> None:
        """Stripe has nothing it may charge: ask the customer for a card, end at the window."""
        self._wait(session, case, "wait_new_card", reason)

    def recheck_later(self, session: Session, case: RecoveryCase, at: datetime,
                      reason: str) -> None:
        """A payment is still in flight: look at the invoice again at ``at`` (a retry, which
        re-reads the invoice before it charges and charges only if it is still open)."""
        cases.lock_cases(session, [case.id])
        if case.status == CaseStatus.open.value:
            self._write(session, [(case, Plan("retry", at, reason), [])])

    def _wait(self, session: Session, case: RecoveryCase, kind: str, reason: str) -> None:
        cases.lock_cases(session, [case.id])
        if case.status != CaseStatus.open.value:
            return
        policy = self.policy(session, case.account_id)
        window_end = case.first_failed_at + timedelta(days=policy.window_days)
        plan = Plan(kind, window_end, reason, notify_customer=True)
        self._write(session, [(case, plan, [])])

    def on_recovered(self, session: Session, case: RecoveryCase) -> None:
        """The receipt, if the sequence has one: sent even though the case is closed."""
        if self.communication(session, case.account_id).has("payment_recovered"):
            receipt = Notice("payment_recovered", "payment_recovered", self.clock.now(),
                             "payment recovered")
            self._write(session, [(case, None, [receipt])])

    def replan(self, session: Session, case: RecoveryCase, *, label, card_changed: bool,
               make_default: bool = False) -> Plan | None:
        request = PlanRequest(case, label, card_changed, make_default=make_default)
        plans = self.replan_many(session, [request])
        return plans[0] if plans else None

    def replan_many(self, session: Session, requests: Sequence[PlanRequest]) -> list[Plan]:
        """Plan every requested case that is still open: a few set-based reads, the pure policy
        per case, then one cancel and one insert for all of them; returns the plans made."""
        # The lock also writes out what this unit of work changed (sessions do not autoflush:
        # it cost a flush per query), which planning reads back in the attempt log.
        cases.lock_cases(session, [r.case.id for r in requests])
        requests = [r for r in requests if r.case.status == CaseStatus.open.value]
        if not requests:
            return []
        now = self.clock.now()
        logs = cases.action_logs(session, [r.case.id for r in requests])
        histories = cases.card_histories(session, {(r.case.account_id, r.case.card_fingerprint)
                                                   for r in requests if r.case.card_fingerprint})
        for request in requests:
            if request.new_decline:
                # Set after the flush above, so the case is written once, with its plan.
                request.case.last_decline_class = request.label.decline_class.value \
                    if request.label else None
        policies = {}
        for account_id in {r.case.account_id for r in requests}:
            policies[account_id] = self.policy(session, account_id)
        chosen = self.case_policies(session, [r.case for r in requests])
        smart = [r.case for r in requests if chosen[r.case.id][0].timing == "smart"]
        if smart:
            # One bulk read for the batch (snapshots, artifacts) before any choice is made.
            self.scorer.prepare(session, smart, now)
        items = []
        for request in requests:
            case = request.case
            items.append((chosen[case.id][0], RetryContext(
                now=now, first_failed_at=case.first_failed_at,
                retries_done=logs[case.id].retries_done, classification=request.label,
                card_fingerprint=case.card_fingerprint, card_brand=case.card_brand,
                history=histories.get((case.account_id, case.card_fingerprint), ()),
                timezone=case.customer_timezone, card_changed=request.card_changed,
                stripe_next_attempt=case.stripe_next_payment_attempt,
                case_id=case.id, account_id=case.account_id,
            )))
        plans = [_in_segment(plan, chosen[r.case.id][1]) for r, plan in zip(
            requests, plan_next_retries(items, self.scorer), strict=True)]
        planned = [(r.case, plan, []) for r, plan in zip(requests, plans, strict=True)]
        self._write(session, planned, logs, policies,
                    make_default={r.case.id for r in requests if r.make_default})
        return [plan for _case, plan, _notices in planned]

    @staticmethod
    def plan_notices(communication: CommunicationPolicy, case: RecoveryCase, plan: Plan,
                     window_end: datetime, notified: Collection[str],
                     now: datetime) -> Notices:
        """The messages a plan sends. The pure retry policy decides whether the customer hears
        about it (the decline's ``notify_customer``, or a request it must make), the
        communication policy with which message; once the customer has been told (now or
        before), the reminders and the final notice follow at their times."""
        notices = []
        kind = opening_notice(communication, plan.kind, case.last_decline_class) \
            if plan.notify_customer else None
        if kind is not None:
            reason = "tell the customer the payment failed" if plan.kind == "retry" \
                else plan.reason
            notices.append(Notice(kind, kind, now, reason))
        told = kind is not None or any(sent in OPENING_KINDS for sent in notified)
        if told and plan.kind in FOLLOWED_UP:
            notices += follow_up_notices(communication, case.first_failed_at, window_end, now)
        return notices

    def _write(self, session: Session,
               planned: Sequence[tuple[RecoveryCase, Plan | None, Notices]],
               logs: dict[int, ActionLog] | None = None,
               policies: dict[str, RetryPolicy] | None = None,
               make_default: Collection[int] = ()) -> None:
        """Replace each case's step with its new plan and schedule its notices and the plan's
        (each step of the sequence once per case; ``logs``: the cases' action logs, if already
        read; ``make_default``: cases whose retry makes the customer's new card their
        default)."""
        now = self.clock.now()
        if logs is None:
            logs = cases.action_logs(session, [case.id for case, _p, _n in planned])
        planned = [entry for entry in planned if not self._step_running(entry, logs)]
        replanned = [case.id for case, plan, _notices in planned if plan is not None]
        cases.cancel_actions_of(session, replanned, now, REPLANNED_KINDS)
        policies = policies if policies is not None else {}
        communications: dict[str, CommunicationPolicy] = {}
        drafts = []
        for case, plan, notices in planned:
            sent = logs.setdefault(case.id, ActionLog()).notified
            if plan is not None:
                if case.account_id not in policies:
                    policies[case.account_id] = self.policy(session, case.account_id)
                if case.account_id not in communications:
                    communications[case.account_id] = self.communication(session,
                                                                         case.account_id)
                policy = policies[case.account_id]
                drafts.append(self._step(case, plan, now, policy, case.id in make_default))
                window_end = case.first_failed_at + timedelta(days=policy.window_days)
                notices = list(notices) + self.plan_notices(
                    communications[case.account_id], case, plan, window_end, sent, now)
            for notice in notices if self.send_messages else ():
                if notice.key not in sent:
                    sent.add(notice.key)
                    drafts.append(ActionDraft(case, ActionKind.notify, notice.at, notice.reason,
                                              {"template": notice.kind, "notice": notice.key}))
        written = cases.schedule_many(session, drafts, now)
        self._tell_at_risk(session, planned)
        for case_id in set(replanned) - written:
            # Only a planner that skipped the case lock could get here: the other step stands.
            log.warning("a live step already exists; this plan was not written",
                        extra={"case": case_id})

    def _tell_at_risk(self, session: Session,
                      planned: Sequence[tuple[RecoveryCase, Plan | None, Notices]]) -> None:
        """``customer.at_risk`` for each case whose plan leaves it to the customer (once per
        case: later plans of the kind emit nothing more)."""
        for case, plan, _notices in planned:
            if plan is not None and plan.kind in AT_RISK_PLANS:
                emit_case_event(session, case, OutboundEventType.customer_at_risk, self.clock,
                                reason=plan.reason)

    @staticmethod
    def _step_running(entry: tuple[RecoveryCase, Plan | None, Notices],
                      logs: dict[int, ActionLog]) -> bool:
        """A worker is running the case's retry or end of dunning: its outcome plans what
        follows, and a second live step beside it could charge twice."""
        case, plan, _notices = entry
        running = plan is not None and logs.get(case.id, ActionLog()).step_running
        if running:
            log.info("step running; its outcome plans what follows",
                     extra={"invoice": case.stripe_invoice_id, "plan": plan.kind})
        return running

    @staticmethod
    def _step(case: RecoveryCase, plan: Plan, now: datetime, policy: RetryPolicy,
              make_default: bool) -> ActionDraft:
        case.waiting_for = WAITING_FOR_PLAN[plan.kind].value
        case.last_reason, case.updated_at = plan.reason, now
        log.info("planned", extra={"invoice": case.stripe_invoice_id, "plan": plan.kind,
                                   "at": plan.at, "reason": plan.reason})
        kind = ActionKind.retry if plan.kind == "retry" else ActionKind.end_dunning
        due_at = allowed_due_at(policy, kind.value, plan.at or now, case.customer_timezone)
        if kind is ActionKind.retry:
            params = retry_params(case, make_default, plan)
        else:  # a declined smart decision keeps its explanation beside the end of dunning
            params = decision_params(plan) or None
        return ActionDraft(case, kind, due_at, plan.reason, params)

    def latest_label(self, session: Session, case: RecoveryCase):
        failed = [a for a in cases.case_attempts(session, case.id) if not a.succeeded]
        return cases.classify_row(failed[-1]) if failed else None


def _in_segment(plan: Plan, segment: str | None) -> Plan:
    """The plan, its reason naming the segment whose policy made it, if one did."""
    if segment is None:
        return plan
    return replace(plan, reason=f"{plan.reason} [segment {segment!r}]")
