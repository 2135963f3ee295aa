"""Importing one past invoice read from Stripe's history (the backfill), idempotently.

It writes what the live pipeline would have written had it been running, so smart timing can
train on the account's past from day one: the invoice's charges as ``charge_attempt`` rows (the
training log and the cards' network budget), how it ended as a ``finished_invoice`` trace (a
customer's paid times are their payment history), and, for an invoice that ended after at least
one declined charge, a closed ``recovery_case`` the attempts belong to.

Nothing here opens a live case, schedules an action or charges. An invoice still open and failing
gets its attempts (they count on its card's budget) but no case: live cases come from webhooks.
An invoice the engine already has a case for keeps that case as it is; its charges are merged
into it. Every write is keyed (a charge by its id, a case and a trace by the invoice), so importing
an invoice again changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from models import Account, CaseStatus, ChargeAttempt, RecoveredBy, RecoveryCase, WaitingFor
from recovery.engine import case_store as cases
from recovery.engine import traces
from recovery.engine.attempts import AttemptFacts, record_attempt
from recovery.engine.customer_zones import customer_zone
from recovery.runtime.clock import Clock
from recovery.stripe_api.history import PastAttempt, PastInvoice

ENDED = ("paid", "void", "uncollectible")
IMPORTED_REASON = "imported from Stripe's history"


@dataclass(frozen=True)
class InvoiceImport:
    """What importing one invoice added."""

    attempts: int = 0
    case: bool = False
    trace: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.attempts or self.case or self.trace)


def import_past_invoice(session: Session, account_id: str, invoice: PastInvoice,
                        attempts: Sequence[PastAttempt], clock: Clock) -> InvoiceImport:
    """Record the invoice and its charges (``attempts``, as the gateway read them) for
    ``account_id``, in the caller's transaction. A draft is skipped: nothing happened to it yet.
    A paid case is ``recovered_by`` Stripe when the paying charge was on a card that had been
    declined (Stripe's own retry), else by the customer (another card, or paid outside Stripe)."""
    if invoice.status == "draft":
        return InvoiceImport()
    settled = [attempt for attempt in attempts if attempt.settled]
    trace = _record_ending(session, account_id, invoice, settled)
    if not any(attempt.details.decline for attempt in settled):
        return InvoiceImport(trace=trace)  # never declined: its paid time is history enough
    case = cases.case_for_invoice(session, account_id, invoice.id)
    opened = case is None and invoice.status in ENDED
    if opened:
        case = _closed_case(session, account_id, invoice, settled, clock.now())
    rows = [_record(session, account_id, case, invoice, attempt, clock.now())
            for attempt in settled]
    if opened:
        case.last_decline_class = next(
            (row.decline_class for row, _new in reversed(rows) if row.decline_class), None)
    return InvoiceImport(attempts=sum(new for _row, new in rows), case=opened, trace=trace)


def _record_ending(session: Session, account_id: str, invoice: PastInvoice,
                   settled: Sequence[PastAttempt]) -> bool:
    """The finished-invoice trace; True when it is new."""
    if invoice.status not in ENDED:
        return False
    if traces.finished_status(session, account_id, invoice.id) is not None:
        return False
    traces.record_finished_invoice(session, account_id, invoice.id, invoice.status, None,
                                   _ended_at(invoice, settled), customer_id=invoice.customer_id)
    return True


def _ended_at(invoice: PastInvoice, settled: Sequence[PastAttempt]) -> datetime:
    # ``status_transitions`` dates every ending; should it be missing, the paying charge (or
    # the last attempt) is the best time known.
    if invoice.finished_at is not None:
        return invoice.finished_at
    paying = [attempt.at for attempt in settled if attempt.details.succeeded]
    return max(paying or [attempt.at for attempt in settled] or [invoice.created])


def _record(session: Session, account_id: str, case: RecoveryCase | None,
            invoice: PastInvoice, attempt: PastAttempt,
            now: datetime) -> tuple[ChargeAttempt, bool]:
    """Insert the attempt, or merge it into the row of the same charge (linking it to the case
    if it waited unlinked); True when the row is new."""
    details = attempt.details
    known = cases.attempt_by_charge(session, account_id, details.charge_id) is not None
    facts = AttemptFacts(
        at=attempt.at, charge_id=details.charge_id, intent_id=details.payment_intent_id,
        invoice_id=invoice.id, decline=details.decline, card=details.card,
        amount=attempt.amount, currency=attempt.currency or invoice.currency,
        succeeded=details.succeeded, imported=True)
    row, _plan_again = record_attempt(session, case, facts, now, account_id)
    return row, not known


def _closed_case(session: Session, account_id: str, invoice: PastInvoice,
                 settled: Sequence[PastAttempt], now: datetime) -> RecoveryCase:
    first = next(attempt for attempt in settled if attempt.details.decline)
    card = first.details.card
    paid = invoice.status == "paid"
    case = RecoveryCase(
        account_id=account_id, stripe_invoice_id=invoice.id,
        stripe_customer_id=invoice.customer_id, stripe_subscription_id=invoice.subscription_id,
        amount_due=invoice.amount_due, currency=invoice.currency,
        status=(CaseStatus.recovered if paid else CaseStatus.closed_elsewhere).value,
        waiting_for=WaitingFor.nothing.value,
        recovered_by=_recovered_by(settled) if paid else None,
        card_fingerprint=card.fingerprint if card else None,
        card_brand=card.brand if card else None,
        payment_method_id=card.payment_method_id if card else None,
        customer_timezone=_timezone(session, account_id, invoice, card),
        plan_interval_days=invoice.interval_days, hosted_invoice_url=invoice.hosted_invoice_url,
        first_failed_at=first.at, closed_at=_ended_at(invoice, settled),
        last_reason=IMPORTED_REASON, created_at=now, updated_at=now,
    )
    session.add(case)
    session.flush()
    return case


def _recovered_by(settled: Sequence[PastAttempt]) -> str:
    declined_cards = {attempt.details.card.fingerprint for attempt in settled
                      if attempt.details.decline and attempt.details.card}
    paying = next((attempt for attempt in reversed(settled) if attempt.details.succeeded), None)
    card = paying.details.card if paying else None
    if card is not None and card.fingerprint and card.fingerprint in declined_cards:
        return RecoveredBy.stripe.value
    return RecoveredBy.customer.value


def _timezone(session: Session, account_id: str, invoice: PastInvoice, card) -> str:
    account = session.get(Account, account_id)
    return customer_zone(address_country=invoice.customer_country,
                         address_state=invoice.customer_state,
                         card_country=card.country if card else None,
                         account_zone=account.timezone if account else None)

