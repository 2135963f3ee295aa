"""Recording charge attempts once per Stripe charge, whichever report arrives first.

A webhook (``charge.failed``, ``invoice.payment_failed``) and the action runner's own API answer
can describe the same charge, in any order: they merge into one ``charge_attempt`` row. A later
report's decline codes (outcome, advice and network codes) are written over the earlier ones, but
never blank them out nor lift a stop an earlier report gave, and the decline is classified again
from everything known. An attempt whose charge is unknown is never merged with another: two such
reports are two attempts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from models import ChargeAttempt, RecoveryCase
from recovery.engine import case_store as cases
from recovery.engine.case_tallies import refresh_attempt_tallies
from recovery.rules.declines import Classification, DeclineClass
from recovery.rules.network_rules import budget_key
from recovery.stripe_api.results import AttemptDetails, PaymentOutcome
from webhooks.facts import CardInfo, DeclineInfo

log = logging.getLogger("recovery.engine")
RECONCILE_ALERT = "ALERT: a decline needs reconciling; no retry until an operator checks it"

# The decline fields a report may carry, as named on both DeclineInfo and the attempt row.
DECLINE_FIELDS = ("failure_code", "decline_code", "advice_code", "network_decline_code",
                  "network_advice_code", "outcome_type", "outcome_reason")
CARD_FIELDS = (("card_brand", "brand"), ("card_funding", "funding"),
               ("card_country", "country"), ("payment_method_kind", "kind"),
               ("card_exp_month", "exp_month"), ("card_exp_year", "exp_year"))


@dataclass(frozen=True)
class AttemptFacts:
    at: datetime
    charge_id: str | None
    intent_id: str | None
    invoice_id: str | None
    decline: DeclineInfo | None
    card: CardInfo | None
    amount: int = 0
    currency: str = "usd"
    succeeded: bool = False
    by: str = "stripe"
    action_id: int | None = None
    # An engine retry's decision (``planning.attempt_features``): the scorer's training log.
    features: dict | None = None
    scorer_version: str | None = None
    # Read from Stripe's history by a backfill: a decline long past raises no alert.
    imported: bool = False

    @classmethod
    def from_details(cls, details: AttemptDetails | None, *, at: datetime, invoice_id: str,
                     amount: int, currency: str, charge_id: str | None,
                     intent_id: str | None) -> AttemptFacts:
        return cls(
            at=at, invoice_id=invoice_id, amount=amount, currency=currency,
            charge_id=(details.charge_id if details else None) or charge_id,
            intent_id=(details.payment_intent_id if details else None) or intent_id,
            decline=details.decline if details else None, card=details.card if details else None,
        )

    @classmethod
    def from_outcome(cls, outcome: PaymentOutcome, case: RecoveryCase, *, at: datetime,
                     action_id: int, features: dict | None = None,
                     scorer_version: str | None = None) -> AttemptFacts:
        return cls(
            at=at, charge_id=outcome.charge_id, intent_id=outcome.payment_intent_id,
            invoice_id=case.stripe_invoice_id, decline=outcome.decline, card=outcome.card,
            amount=case.amount_due, currency=case.currency, succeeded=outcome.paid,
            by="engine", action_id=action_id, features=features, scorer_version=scorer_version,
        )


def record_attempt(session: Session, case: RecoveryCase | None, facts: AttemptFacts,
                   now: datetime, account_id: str | None = None) -> tuple[ChargeAttempt, bool]:
    """Insert or merge the attempt; True when ``case`` must plan again: the attempt is new to
    it, or a later report about it changed how its decline is classified."""
    account_id = case.account_id if case is not None else account_id
    existing = cases.attempt_by_charge(session, account_id, facts.charge_id)
    if existing is None and facts.by == "engine" and facts.succeeded and facts.charge_id:
        # ``invoice.paid`` told of this retry's success before its own answer did.
        existing = cases.unnamed_success_of_action(session, account_id, facts.action_id)
        if existing is not None:
            existing.stripe_charge_id = facts.charge_id
            existing.stripe_payment_intent_id = facts.intent_id
    if existing is not None:
        plan_again = _merge(existing, case, facts)
        _refresh_tallies(session, existing, case)
        return existing, plan_again
    row = ChargeAttempt(account_id=account_id, created_at=now, attempted_at=facts.at)
    _fill(row, case, facts)
    session.add(row)
    session.flush()
    _refresh_tallies(session, row, case)
    return row, case is not None


def _refresh_tallies(session: Session, row: ChargeAttempt, case: RecoveryCase | None) -> None:
    if row.case_id is None:
        return
    if case is None or case.id != row.case_id:
        case = session.get(RecoveryCase, row.case_id)
    if case is not None:
        refresh_attempt_tallies(session, case)


def _merge(row: ChargeAttempt, case: RecoveryCase | None, facts: AttemptFacts) -> bool:
    newly_linked = case is not None and row.case_id is None
    if facts.by == "engine":
        # Our own answer about this charge: it was an engine retry, whatever arrived first.
        row.by, row.action_id = "engine", facts.action_id
        _keep_decision(row, facts)
    before = _label(row)
    if facts.card is not None:
        _merge_card(row, facts.card)
    if facts.decline is not None:
        _merge_decline(row, facts.decline)
    if newly_linked:
        row.case_id = case.id
        row.stripe_invoice_id = case.stripe_invoice_id
        _card_from_case(row, case)
    reclassified = _classify(row, before, alert=not facts.imported)
    return newly_linked or (reclassified and case is not None and row.case_id == case.id)


def _fill(row: ChargeAttempt, case: RecoveryCase | None, facts: AttemptFacts) -> None:
    row.case_id = case.id if case is not None else None
    row.stripe_invoice_id = facts.invoice_id or (case.stripe_invoice_id if case else None)
    row.stripe_charge_id = facts.charge_id
    row.stripe_payment_intent_id = facts.intent_id
    row.by, row.action_id, row.succeeded = facts.by, facts.action_id, facts.succeeded
    row.amount, row.currency = facts.amount, facts.currency
    _keep_decision(row, facts)
    if facts.card is not None:
        _merge_card(row, facts.card)
    if case is not None:
        _card_from_case(row, case)
    if facts.decline is not None:
        _merge_decline(row, facts.decline)
        # After the card: the brand changes the class.
        _classify(row, None, alert=not facts.imported)


def _keep_decision(row: ChargeAttempt, facts: AttemptFacts) -> None:
    """The decision that timed an engine retry stays with its attempt, whoever reports it."""
    if facts.features is not None and row.features is None:
        row.features, row.scorer_version = facts.features, facts.scorer_version


def _card_from_case(row: ChargeAttempt, case: RecoveryCase) -> None:
    # A pay call's decline names no card: it charged the card on file, which the case tracks.
    if row.card_fingerprint is None:
        row.card_fingerprint, row.card_brand = case.card_fingerprint, case.card_brand
    elif case.card_fingerprint is None:
        case.card_fingerprint, case.card_brand = row.card_fingerprint, row.card_brand


def _merge_decline(row: ChargeAttempt, decline: DeclineInfo) -> None:
    earlier = {name: getattr(row, name) for name in DECLINE_FIELDS}
    before = _label(row)
    for name in DECLINE_FIELDS:
        if getattr(decline, name) is not None:
            setattr(row, name, getattr(decline, name))
    if before is None or not _softer(_label(row), before):
        return
    # Two reports of one charge disagree and the later one is milder (a masked decline code,
    # say): keep what the earlier one said, taking from the later only what it lacked, and
    # nothing of it if even that softens the verdict.
    for name, value in earlier.items():
        setattr(row, name, value if value is not None else getattr(decline, name))
    if _softer(_label(row), before):
        for name, value in earlier.items():
            setattr(row, name, value)


def _softer(after: Classification, before: Classification) -> bool:
    held = {DeclineClass.STOP, DeclineClass.NEW_PAYMENT_METHOD, DeclineClass.AUTHENTICATION,
            DeclineClass.RECONCILE}
    return ((before.card_blocked and not after.card_blocked)
            or (before.blocks_window and not after.blocks_window)
            or (before.decline_class in held and after.decline_class not in held))


def _merge_card(row: ChargeAttempt, card: CardInfo) -> None:
    # The budget key: a card's fingerprint, or a bank account's (else its payment method).
    key = budget_key(card.kind, card.fingerprint, card.payment_method_id)
    if row.card_fingerprint is None and key is not None:
        row.card_fingerprint = key
    for column, field in CARD_FIELDS:
        value = getattr(card, field)
        if value is not None and getattr(row, column) is None:
            setattr(row, column, value)


def _label(row: ChargeAttempt) -> Classification | None:
    has_decline = any(getattr(row, name) is not None for name in DECLINE_FIELDS)
    return cases.classify_row(row) if has_decline else None


def _classify(row: ChargeAttempt, before: Classification | None, *, alert: bool = True) -> bool:
    """Classify the row's decline from everything known; True when that changed its meaning."""
    label = _label(row)
    if label is None or label == before:
        return False
    row.decline_class, row.reason = label.decline_class.value, label.reason
    if alert and label.decline_class is DeclineClass.RECONCILE:
        # Duplicates, wrong amounts, token problems and reviews are not the customer's to fix,
        # and retrying repeats them: the case stops and someone must look.
        log.error(RECONCILE_ALERT, extra={
            "alert": "decline_reconcile", "invoice": row.stripe_invoice_id,
            "charge": row.stripe_charge_id, "code": label.code, "reason": label.reason})
    return True
