"""Recording charge attempts once per Stripe charge, whichever report arrives first.

A webhook (``charge.failed``, ``invoice.payment_failed``) and the action runner's own API answer
can describe the same charge, in any order: they merge into one ``charge_attempt`` row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from models import ChargeAttempt, RecoveryCase
from recovery.engine import case_store as cases
from recovery.rules.declines import classify_decline
from recovery.stripe_api.results import AttemptDetails, PaymentOutcome
from webhooks.facts import CardInfo, DeclineInfo


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
                     action_id: int) -> AttemptFacts:
        return cls(
            at=at, charge_id=outcome.charge_id, intent_id=outcome.payment_intent_id,
            invoice_id=case.stripe_invoice_id, decline=outcome.decline, card=outcome.card,
            amount=case.amount_due, currency=case.currency, succeeded=outcome.paid,
            by="engine", action_id=action_id,
        )


def record_attempt(session: Session, case: RecoveryCase | None, facts: AttemptFacts,
                   now: datetime, account_id: str | None = None) -> tuple[ChargeAttempt, bool]:
    """Insert or merge the attempt; True when it is new to ``case`` (so the case must replan)."""
    account_id = case.account_id if case is not None else account_id
    existing = cases.attempt_by_charge(session, account_id, facts.charge_id)
    if existing is not None:
        return existing, _merge(existing, case, facts)
    row = ChargeAttempt(account_id=account_id, created_at=now, attempted_at=facts.at)
    _fill(row, case, facts)
    session.add(row)
    session.flush()
    return row, case is not None


def _merge(row: ChargeAttempt, case: RecoveryCase | None, facts: AttemptFacts) -> bool:
    newly_linked = case is not None and row.case_id is None
    if facts.by == "engine":
        # Our own answer about this charge: it was an engine retry, whatever arrived first.
        row.by, row.action_id = "engine", facts.action_id
    if row.card_fingerprint is None and facts.card is not None:
        _fill_card(row, facts.card)
    if row.decline_code is None and row.failure_code is None and facts.decline is not None:
        _fill_decline(row, facts.decline)
    if newly_linked:
        row.case_id = case.id
        row.stripe_invoice_id = case.stripe_invoice_id
        _card_from_case(row, case)
    return newly_linked


def _fill(row: ChargeAttempt, case: RecoveryCase | None, facts: AttemptFacts) -> None:
    row.case_id = case.id if case is not None else None
    row.stripe_invoice_id = facts.invoice_id or (case.stripe_invoice_id if case else None)
    row.stripe_charge_id = facts.charge_id
    row.stripe_payment_intent_id = facts.intent_id
    row.by, row.action_id, row.succeeded = facts.by, facts.action_id, facts.succeeded
    row.amount, row.currency = facts.amount, facts.currency
    if facts.card is not None:
        _fill_card(row, facts.card)
    if case is not None:
        _card_from_case(row, case)
    if facts.decline is not None:
        _fill_decline(row, facts.decline)  # after the card: the brand changes the class


def _card_from_case(row: ChargeAttempt, case: RecoveryCase) -> None:
    # A pay call's decline names no card: it charged the card on file, which the case tracks.
    if row.card_fingerprint is None:
        row.card_fingerprint, row.card_brand = case.card_fingerprint, case.card_brand
    elif case.card_fingerprint is None:
        case.card_fingerprint, case.card_brand = row.card_fingerprint, row.card_brand


def _fill_decline(row: ChargeAttempt, decline: DeclineInfo) -> None:
    row.failure_code, row.decline_code = decline.failure_code, decline.decline_code
    row.advice_code, row.outcome_type = decline.advice_code, decline.outcome_type
    row.network_decline_code = decline.network_decline_code
    row.network_advice_code = decline.network_advice_code
    row.outcome_reason = decline.outcome_reason
    label = classify_decline(decline, row.card_brand)
    row.decline_class, row.reason = label.decline_class.value, label.reason


def _fill_card(row: ChargeAttempt, card: CardInfo) -> None:
    row.card_fingerprint, row.card_brand = card.fingerprint, card.brand
    row.card_funding, row.card_country = card.funding, card.country
