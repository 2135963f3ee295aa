"""The recovery engine: the only writer of cases and scheduled actions, fed by facts.

Each fact is handled inside the ingest transaction. Facts are idempotent: attempts are keyed by
their Stripe charge, closed cases ignore late events, finished invoices and canceled subscriptions
leave traces that later failures respect (``traces``), and a retry re-reads the invoice and its
subscription before it charges, so duplicated or reordered events can never charge a paid
invoice.

The ingest job handles a batch of facts in one transaction (``batch``): the Stripe reads the
facts need are made first, outside it (``prefetch``), and failures are planned together at the
end of the batch. When Stripe cannot be read then (unavailable, or the account's access
refused), a failure is recorded without its decline details (``details_pending``) rather than
held back: its case waits for them, unplanned, and ``fill_pending_details`` plans it once a
later read has them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta

from sqlmodel import Session

from models import (
    Account,
    CaseStatus,
    ChargeAttempt,
    OutboundEventType,
    RecoveredBy,
    RecoveryCase,
    ScheduledAction,
    WaitingFor,
)
from recovery.engine import case_store as cases
from recovery.engine import traces
from recovery.engine.attempts import AttemptFacts, record_attempt
from recovery.engine.customer_zones import customer_zone
from recovery.engine.offer_steps import mark_offers_recovered
from recovery.engine.outbound_events import emit_case_event
from recovery.engine.planning import Planner, attempt_features
from recovery.errors import AccountAccessRevoked, GatewayUnavailable
from recovery.runtime.clock import Clock
from recovery.stripe_api.results import AttemptDetails, PaymentOutcome
from webhooks.facts import (
    ActionRequired,
    AnyFact,
    CardExpiring,
    ChargeFailed,
    InvoiceClosed,
    InvoicePaid,
    PaymentFailed,
    PaymentMethodChanged,
    SubscriptionCanceled,
)

log = logging.getLogger("recovery.engine")
STRIPE_PAID_WINDOW = timedelta(hours=1)
PREFETCHED = "recovery.prefetched_attempts"  # session.info key: attempt details read ahead
FAILURE_FACTS = (PaymentFailed, ChargeFailed)
# Stripe could not be read, through no fault of the event: its details are read again later.
UNREADABLE = (GatewayUnavailable, AccountAccessRevoked)
NOT_READ = object()  # prefetched value: the read met Stripe trouble
WAITING_FOR_DETAILS = "waiting for the decline details: Stripe could not be read yet"


class RecoveryEngine:
    """Turns facts and action outcomes into case state and the next scheduled steps."""

    def __init__(self, gateway, clock: Clock, planner: Planner,
                 stripe_account_of: Callable[[str], str | None] = lambda _account: None) -> None:
        self.gateway = gateway
        self.clock = clock
        self.planner = planner
        self.stripe_account_of = stripe_account_of
        self._handlers = {
            PaymentFailed: self._payment_failed, ChargeFailed: self._charge_failed,
            InvoicePaid: self._invoice_paid, InvoiceClosed: self._invoice_closed,
            PaymentMethodChanged: self._payment_method_changed,
            SubscriptionCanceled: self._subscription_canceled,
            ActionRequired: self._action_required, CardExpiring: self._card_expiring,
        }

    def handle(self, session: Session, account_id: str, fact: AnyFact) -> None:
        """The ingest job's fact handler."""
        if not isinstance(fact, FAILURE_FACTS):
            # Other facts read or replace a case's plan: make the queued plans first.
            self.planner.plan_deferred(session)
        self._handlers[type(fact)](session, account_id, fact)

    # Batches (the ingest job's)

    def prefetch(self, facts: Iterable[tuple[str, AnyFact]]) -> dict:
        """Read from Stripe, before the batch's transaction opens, the decline details the
        failures will need. A read that met Stripe trouble is not made again in the batch (its
        failure is recorded without details); any other failed read the handler makes again,
        and records its error."""
        found = {}
        for account_id, fact in facts:
            if not isinstance(fact, PaymentFailed) or _details_key(fact) in found:
                continue
            if cases.is_engine_key(fact.idempotency_key):
                # Our own retry's failure: nearly always its runner records Stripe's answer;
                # the rare lost answer is read by the handler.
                continue
            try:
                found[_details_key(fact)] = self._fetch_details(account_id, fact)
            except UNREADABLE:
                log.warning("Stripe unreadable; the failure is recorded without its details "
                            "for now", extra={"invoice": fact.invoice_id}, exc_info=True)
                found[_details_key(fact)] = NOT_READ
            except Exception:  # noqa: BLE001 - the handler reads again and records its error
                log.info("prefetch failed; the handler will read again",
                         extra={"invoice": fact.invoice_id}, exc_info=True)
        return found

    @contextmanager
    def batch(self, session: Session, prefetched: dict) -> Iterator[None]:
        """Handle many facts in this transaction; failures are planned together at the end."""
        session.info[PREFETCHED] = prefetched
        try:
            with self.planner.deferring(session):
                yield
        finally:
            session.info.pop(PREFETCHED, None)

    # Failures

    def _payment_failed(self, session: Session, account_id: str, fact: PaymentFailed) -> None:
        case = cases.case_for_invoice(session, account_id, fact.invoice_id)
        if case is not None and case.status != CaseStatus.open.value:
            # A late failure for a case that already ended changes nothing, but when it is our
            # retry's, whose answer was lost, it is still an attempt on the card.
            self._record_lost_retry_failure(session, account_id, case, fact)
            return
        if case is None and self._finished_before(session, account_id, fact):
            # No case for an invoice that ended first, but the decline still counts on its card.
            self._record_caseless_failure(session, account_id, fact)
            return
        if case is not None and cases.retry_will_record_answer(session, case.id,
                                                               fact.idempotency_key):
            # Our retry's failure: the action runner records it from Stripe's answer and plans.
            # It is counted now all the same, in case the runner never learns that answer.
            self._record_retry_failure_early(session, account_id, case, fact)
            return
        details = self._attempt_details(session, account_id, fact)
        if details is NOT_READ:
            self._failure_without_details(session, account_id, case, fact)
            return
        if case is None:
            case = self._open_case(session, account_id, fact, details)
        case.stripe_next_payment_attempt = fact.next_payment_attempt
        case.hosted_invoice_url = fact.hosted_invoice_url or case.hosted_invoice_url
        facts = _attempt_facts(fact, details)
        own_retry = cases.retry_of_case(session, case.id, fact.idempotency_key)
        if own_retry is not None:
            # A retry's answer that never reached it (lost in transit, a 5xx after the charge):
            # still an attempt on the card, and the retry's own.
            facts = replace(facts, by="engine", action_id=own_retry)
        attempt, is_new = record_attempt(session, case, facts, self.clock.now())
        if is_new:
            self.planner.after_failure(session, case, attempt)

    def _record_lost_retry_failure(self, session: Session, account_id: str,
                                   case: RecoveryCase, fact: PaymentFailed) -> None:
        if cases.retry_will_record_answer(session, case.id, fact.idempotency_key):
            self._record_retry_failure_early(session, account_id, case, fact)
            return
        own_retry = cases.retry_of_case(session, case.id, fact.idempotency_key)
        if own_retry is None:
            return
        details = self._attempt_details(session, account_id, fact)
        if details is NOT_READ or details is None:
            log.warning("a lost retry answer could not be read; the attempt is not counted",
                        extra={"invoice": fact.invoice_id, "action": own_retry})
            return
        facts = replace(_attempt_facts(fact, details), by="engine", action_id=own_retry)
        record_attempt(session, case, facts, self.clock.now())

    def _record_retry_failure_early(self, session: Session, account_id: str,
                                    case: RecoveryCase, fact: PaymentFailed) -> None:
        """Count the decline of a retry that will report it itself, without planning (the
        retry's own report merges into this row by charge id, and plans). A retry whose worker
        died after the charge may find its case ended when it runs again, and then never reports
        it: this row is then the only record of a charge the card's issuer saw. Without a charge
        id the two reports could not be merged, so nothing is written."""
        details = self._attempt_details(session, account_id, fact)
        if details is NOT_READ or details is None or details.succeeded:
            return
        facts = _attempt_facts(fact, details)
        if not facts.charge_id:
            return
        own_retry = cases.retry_of_case(session, case.id, fact.idempotency_key)
        record_attempt(session, case, replace(facts, by="engine", action_id=own_retry),
                       self.clock.now())

    def _record_caseless_failure(self, session: Session, account_id: str,
                                 fact: PaymentFailed) -> None:
        details = self._attempt_details(session, account_id, fact)
        if details is NOT_READ or details is None:
            log.warning("the decline of a finished invoice could not be read; not counted",
                        extra={"invoice": fact.invoice_id})
            return
        record_attempt(session, None, _attempt_facts(fact, details), self.clock.now(),
                       account_id)

    def _finished_before(self, session: Session, account_id: str, fact: PaymentFailed) -> bool:
        """The invoice finished or its subscription was canceled before this failure arrived."""
        why = traces.why_finished(session, account_id, fact.invoice_id, fact.subscription_id)
        if why is not None:
            log.info("failure ignored", extra={"invoice": fact.invoice_id, "reason": why,
                                               "event": fact.event_id})
        return why is not None

    def _attempt_details(self, session: Session, account_id: str, fact: PaymentFailed):
        """The failure's details, None when Stripe has none, or ``NOT_READ``."""
        prefetched = session.info.get(PREFETCHED, {})
        if _details_key(fact) in prefetched:
            return prefetched[_details_key(fact)]
        try:
            return self._fetch_details(account_id, fact)
        except UNREADABLE:
            log.warning("Stripe unreadable; the failure is recorded without its details for "
                        "now", extra={"invoice": fact.invoice_id}, exc_info=True)
            return NOT_READ

    def _fetch_details(self, account_id: str, fact: PaymentFailed) -> AttemptDetails | None:
        """An endive ``invoice.payment_failed`` has no decline details: ask Stripe for them."""
        return self.read_attempt_details(account_id, fact.invoice_id, fact.occurred_at,
                                         fact.charge_id)

    def read_attempt_details(self, account_id: str, invoice_id: str | None, at: datetime,
                             charge_id: str | None = None) -> AttemptDetails | None:
        """Stripe's details of the attempt that failed at ``at``: its charge's, else the
        invoice's newest attempt as of that time."""
        stripe_account = self.stripe_account_of(account_id)
        if charge_id:
            details = self.gateway.charge_details(charge_id, stripe_account=stripe_account)
        elif invoice_id:
            # Each failure event reads its own attempt: the newest as of the event's time.
            details = self.gateway.latest_attempt(invoice_id, at=at,
                                                  stripe_account=stripe_account)
        else:
            return None
        return self._with_fingerprint(details, stripe_account)

    # Failures whose details could not be read at first

    def _failure_without_details(self, session: Session, account_id: str,
                                 case: RecoveryCase | None, fact: PaymentFailed) -> None:
        """Record the failure marked ``details_pending``; a case it opens waits for them
        unplanned (a plan without the card or the decline would be a blind one). The same
        failure delivered again while it waits is the same attempt."""
        if case is None:
            case = self._open_case(session, account_id, fact, None)
            case.waiting_for, case.last_reason = WaitingFor.details.value, WAITING_FOR_DETAILS
        case.stripe_next_payment_attempt = fact.next_payment_attempt
        case.hosted_invoice_url = fact.hosted_invoice_url or case.hosted_invoice_url
        if cases.attempt_waiting_for_details(session, case.id, fact.occurred_at) is not None:
            return
        attempt, _is_new = record_attempt(session, case, _attempt_facts(fact, None),
                                          self.clock.now())
        attempt.details_pending = attempt.decline_class is None
        session.flush()  # a second delivery in the same batch must find it

    def fill_pending_details(self, session: Session, attempt_id: int,
                             details: AttemptDetails | None) -> None:
        """A later read found what a failure was recorded without: record the attempt again
        with its details (merging with a report of the same charge that came meanwhile) and
        plan its case. ``None``: Stripe holds no details; the case is planned without them."""
        # Locked and read afresh: two workers refreshing the same attempt take turns, and the
        # second finds it no longer pending (rather than deleting it a second time).
        attempt = session.get(ChargeAttempt, attempt_id, with_for_update=True,
                              populate_existing=True)
        if attempt is None or not attempt.details_pending:
            return
        attempt.details_pending = False
        case = session.get(RecoveryCase, attempt.case_id)
        if details is not None and not details.succeeded and (details.decline or details.card):
            facts = AttemptFacts.from_details(
                details, at=attempt.attempted_at, invoice_id=attempt.stripe_invoice_id,
                amount=attempt.amount, currency=attempt.currency,
                charge_id=attempt.stripe_charge_id, intent_id=attempt.stripe_payment_intent_id)
            session.delete(attempt)  # its charge may already have a row: record it afresh
            session.flush()
            attempt, _is_new = record_attempt(session, case, facts, self.clock.now())
            if details.card is not None and case.payment_method_id is None:
                case.payment_method_id = details.card.payment_method_id
        if case.status == CaseStatus.open.value:
            self.planner.after_failure(session, case, attempt)

    def _with_fingerprint(self, details: AttemptDetails | None,
                          stripe_account: str | None) -> AttemptDetails | None:
        """A payment method reported without its fingerprint is read again: without one the
        network rules cannot count its attempts, and the case would only wait for a new card."""
        card = details.card if details else None
        if card is None or card.fingerprint or not card.payment_method_id:
            return details
        method = self.gateway.payment_method_card(card.payment_method_id,
                                                  stripe_account=stripe_account)
        if method is None or not method.fingerprint:
            return details
        return replace(details, card=method)

    def _open_case(self, session: Session, account_id: str, fact: PaymentFailed,
                   details: AttemptDetails | None) -> RecoveryCase:
        now = self.clock.now()
        card = details.card if details else None
        case = RecoveryCase(
            account_id=account_id, stripe_invoice_id=fact.invoice_id,
            stripe_customer_id=fact.customer_id, stripe_subscription_id=fact.subscription_id,
            amount_due=fact.amount_due, currency=fact.currency,
            card_fingerprint=card.fingerprint if card else None,
            card_brand=card.brand if card else None,
            payment_method_id=card.payment_method_id if card else None,
            customer_timezone=self._customer_timezone(session, account_id, fact, card),
            plan_interval_days=fact.interval_days,
            stripe_next_payment_attempt=fact.next_payment_attempt,
            hosted_invoice_url=fact.hosted_invoice_url,
            first_failed_at=fact.occurred_at, created_at=now, updated_at=now,
        )
        session.add(case)
        session.flush()
        self.planner.on_open(session, case)
        emit_case_event(session, case, OutboundEventType.case_opened, self.clock)
        log.info("case opened", extra={"invoice": fact.invoice_id, "account": account_id})
        return case

    def _customer_timezone(self, session: Session, account_id: str, fact: PaymentFailed,
                           card) -> str:
        known = self.planner.timezone_of(fact.customer_id)  # a directory of customers, if any
        if known:
            return known
        account = session.get(Account, account_id)
        return customer_zone(address_country=fact.customer_country,
                             address_state=fact.customer_state,
                             card_country=card.country if card else None,
                             account_zone=account.timezone if account else None)

    def _charge_failed(self, session: Session, account_id: str, fact: ChargeFailed) -> None:
        case = (cases.case_for_invoice(session, account_id, fact.invoice_id)
                if fact.invoice_id else None)
        case = case or cases.case_for_payment_intent(session, account_id, fact.payment_intent_id)
        if case is not None and case.status != CaseStatus.open.value:
            return
        facts = AttemptFacts(
            at=fact.occurred_at, charge_id=fact.charge_id, intent_id=fact.payment_intent_id,
            invoice_id=fact.invoice_id, decline=fact.decline, card=fact.card,
            amount=fact.amount, currency=fact.currency,
        )
        # Without a case yet the attempt waits unlinked; the invoice's failure event links it.
        attempt, is_new = record_attempt(session, case, facts, self.clock.now(), account_id)
        if is_new and case is not None:
            self.planner.after_failure(session, case, attempt)

    def record_retry_outcome(self, session: Session, case: RecoveryCase, action_id: int,
                             outcome: PaymentOutcome, params: dict | None = None
                             ) -> ChargeAttempt | None:
        """The action runner reports what its ``invoices.pay`` call did (``params``: the
        retry's, with the decision that timed it)."""
        now = self.clock.now()
        features, version = attempt_features(params)
        facts = AttemptFacts.from_outcome(outcome, case, at=now, action_id=action_id,
                                          features=features, scorer_version=version)
        attempt, _is_new = record_attempt(session, case, facts, now)
        if outcome.paid:
            self._recover(session, case, self._recovered_by(case, by_engine=True))
        elif case.status == CaseStatus.open.value:
            # Planned here even when Stripe's webhook recorded this charge first: planning leaves
            # a case alone while its retry runs. A card that changed meanwhile was not the one
            # charged, so it gets its own prompt attempt.
            changed = cases.card_changed_since_claim(session, case, action_id)
            self.planner.after_failure(session, case, attempt, card_changed=changed)
        return attempt

    # Endings

    def _invoice_paid(self, session: Session, account_id: str, fact: InvoicePaid) -> None:
        traces.record_finished_invoice(session, account_id, fact.invoice_id, "paid",
                                       fact.event_id, fact.occurred_at,
                                       customer_id=fact.customer_id)
        case = cases.case_for_invoice(session, account_id, fact.invoice_id)
        if case is None:
            return
        # The webhook can beat the action's own report of a successful retry, or be the only
        # report of it: the retry's answer was lost (a timeout, a dead worker, a 5xx after the
        # charge) and the case ends before, or without, the retry learning it. Stripe echoes the
        # retry's key on the event.
        own_retry = cases.retry_of_case(session, case.id, fact.idempotency_key)
        if own_retry is not None:
            self._record_retry_success(session, case, own_retry, fact)
        if case.status != CaseStatus.open.value:
            if own_retry is not None and case.recovered_by == RecoveredBy.customer.value:
                # A later retry found the invoice paid and took it for the customer's doing.
                case.recovered_by = self._recovered_by(case, by_engine=True)
            return
        in_flight = own_retry is not None or cases.retry_in_flight(session, case.id)
        how = self._recovered_by(case, by_engine=in_flight, at=fact.occurred_at)
        self._recover(session, case, how)

    def _record_retry_success(self, session: Session, case: RecoveryCase, action_id: int,
                              fact: InvoicePaid) -> None:
        """The retry's success, once (``invoice.paid`` and ``invoice.payment_succeeded`` both
        tell it), unless the retry recorded it itself; its charge id is filled in if the
        retry's own answer arrives later."""
        if cases.success_of_action(session, case.account_id, action_id) is not None:
            return
        retry = session.get(ScheduledAction, action_id)
        features, version = attempt_features(retry.params if retry is not None else None)
        record_attempt(session, case, AttemptFacts(
            at=fact.occurred_at, charge_id=None, intent_id=None,
            invoice_id=case.stripe_invoice_id, decline=None, card=None,
            amount=fact.amount_paid, currency=fact.currency, succeeded=True, by="engine",
            action_id=action_id, features=features, scorer_version=version), self.clock.now())

    def _recovered_by(self, case: RecoveryCase, *, by_engine: bool,
                      at: datetime | None = None) -> str:
        if by_engine:
            changed = case.card_changed_at is not None
            return (RecoveredBy.card_update if changed else RecoveredBy.retry).value
        stripe_at = case.stripe_next_payment_attempt
        if stripe_at is not None and at is not None and abs(at - stripe_at) <= STRIPE_PAID_WINDOW:
            return RecoveredBy.stripe.value  # coexist mode: Stripe's own scheduled retry paid it
        return RecoveredBy.customer.value

    def _recover(self, session: Session, case: RecoveryCase, how: str) -> None:
        if case.status != CaseStatus.open.value:
            return
        if mark_offers_recovered(session, case):
            how = RecoveredBy.offer.value  # paid after the customer accepted an offer
        cases.close_case(session, case, CaseStatus.recovered, self.clock.now(), recovered_by=how)
        self.planner.on_recovered(session, case)
        emit_case_event(session, case, OutboundEventType.case_recovered, self.clock)
        log.info("case recovered", extra={"invoice": case.stripe_invoice_id, "by": how})

    def dunning_ended(self, session: Session, case: RecoveryCase, final_actions: list[str]) -> None:
        """The end-of-dunning step ran the account's final actions: the case is exhausted."""
        cases.close_case(session, case, CaseStatus.exhausted, self.clock.now())
        emit_case_event(session, case, OutboundEventType.case_exhausted, self.clock,
                        final_actions=list(final_actions))

    def invoice_settled_elsewhere(self, session: Session, case: RecoveryCase,
                                  status: str | None) -> None:
        """A retry found the invoice no longer open: it was paid, voided or written off."""
        if status == "paid":
            self._recover(session, case, RecoveredBy.customer.value)
        elif status in ("void", "uncollectible"):
            cases.close_case(session, case, CaseStatus.closed_elsewhere, self.clock.now())
        else:
            log.warning("invoice not payable", extra={"invoice": case.stripe_invoice_id,
                                                      "status": status})
            cases.close_case(session, case, CaseStatus.closed_elsewhere, self.clock.now())

    def _invoice_closed(self, session: Session, account_id: str, fact: InvoiceClosed) -> None:
        traces.record_finished_invoice(session, account_id, fact.invoice_id, fact.status,
                                       fact.event_id, fact.occurred_at)
        case = cases.case_for_invoice(session, account_id, fact.invoice_id)
        if case is None or case.status != CaseStatus.open.value:
            return
        own_end = cases.end_of_dunning_of_case(session, case.id, fact.idempotency_key)
        if own_end is not None:
            # Our own end of dunning closed the invoice, and its run was cut short before the
            # subscription step (Stripe unavailable, an answer lost, a dead worker): closing the
            # case here would cancel that action and leave the subscription renewing. The action
            # runs again, finds the invoice already closed, ends the subscription and closes the
            # case as exhausted.
            log.info("invoice closed by the end of dunning; it finishes the case",
                     extra={"invoice": fact.invoice_id, "action": own_end})
            return
        cases.close_case(session, case, CaseStatus.closed_elsewhere, self.clock.now())

    def _subscription_canceled(self, session: Session, account_id: str,
                               fact: SubscriptionCanceled) -> None:
        self.subscription_canceled(session, account_id, fact.subscription_id,
                                   at=fact.occurred_at, event_id=fact.event_id)

    def subscription_canceled(self, session: Session, account_id: str, subscription_id: str, *,
                              at: datetime, event_id: str | None = None) -> None:
        """The subscription is canceled (its event arrived, or a retry read it from Stripe):
        keep the trace and close its open cases; none of its invoices is charged again."""
        traces.record_canceled_subscription(session, account_id, subscription_id, event_id, at)
        for case in cases.open_cases(session, account_id, subscription_id=subscription_id):
            cases.close_case(session, case, CaseStatus.canceled, self.clock.now())

    # Waiting on the customer

    def _payment_method_changed(self, session: Session, account_id: str,
                                fact: PaymentMethodChanged) -> None:
        if not fact.customer_id:
            return
        open_ = cases.open_cases(session, account_id, customer_id=fact.customer_id)
        if not open_:
            return
        card = fact.card
        if card is None and fact.payment_method_id:
            card = self.gateway.payment_method_card(
                fact.payment_method_id, stripe_account=self.stripe_account_of(account_id))
        for case in open_:
            self.planner.after_card_change(session, case, card, fact.payment_method_id,
                                           added_by_customer=not fact.automatic)

    def _action_required(self, session: Session, account_id: str, fact: ActionRequired) -> None:
        case = cases.case_for_invoice(session, account_id, fact.invoice_id)
        if case is None or case.status != CaseStatus.open.value:
            return
        case.hosted_invoice_url = fact.hosted_invoice_url or case.hosted_invoice_url
        self.planner.wait_for_authentication(session, case)

    def _card_expiring(self, session: Session, account_id: str, fact: CardExpiring) -> None:
        # Nothing to write: the daily sweep (engine.card_expiry) reads these events from the
        # inbox, with the cards the attempts report, and sends each its notice in time.
        log.info("card expiring", extra={"account": account_id, "customer": fact.customer_id})


def _attempt_facts(fact: PaymentFailed, details: AttemptDetails | None) -> AttemptFacts:
    return AttemptFacts.from_details(
        details, at=fact.occurred_at, invoice_id=fact.invoice_id, amount=fact.amount_due,
        currency=fact.currency, charge_id=fact.charge_id, intent_id=fact.payment_intent_id)


def _details_key(fact: PaymentFailed) -> tuple[str, str, datetime | None]:
    # The read is "the invoice's attempt as of the event's time": two failures of one invoice in
    # a batch are two reads (two attempts), a duplicate of one event shares its read.
    if fact.charge_id:
        return fact.charge_id, "", None
    return "", fact.invoice_id, fact.occurred_at
