"""Typed, API-version-free facts parsed from Stripe events, and the value types they carry.

Facts are what the engine consumes; nothing downstream ever reads a raw Stripe payload.
Every fact carries the Stripe event id and the time Stripe created the event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class DeclineInfo:
    """Everything Stripe tells about why one charge attempt failed (any field may be missing)."""

    failure_code: str | None = None  # API error code: card_declined, expired_card, ...
    decline_code: str | None = None  # issuer decline code: insufficient_funds, do_not_honor, ...
    advice_code: str | None = None  # try_again_later | do_not_try_again | confirm_card_data
    network_decline_code: str | None = None  # raw issuer code, e.g. "51"
    network_advice_code: str | None = None  # Mastercard merchant advice code, e.g. "03"
    outcome_type: str | None = None  # issuer_declined | blocked | invalid | ...
    outcome_reason: str | None = None  # decline code, or a Radar / Stripe reason
    network_status: str | None = None  # declined_by_network | not_sent_to_network | ...
    message: str | None = None
    charge_id: str | None = None
    payment_intent_id: str | None = None


@dataclass(frozen=True)
class CardInfo:
    """The card (or bank account) a charge used; never a card or account number."""

    fingerprint: str | None  # of the card, or of the bank account for a bank debit
    brand: str | None = None
    funding: str | None = None
    country: str | None = None
    exp_month: int | None = None
    exp_year: int | None = None
    last4: str | None = None
    payment_method_id: str | None = None
    # Stripe's payment method type: card | us_bank_account | sepa_debit | ...; None: unknown.
    kind: str | None = "card"


@dataclass(frozen=True)
class Fact:
    event_id: str
    occurred_at: datetime


@dataclass(frozen=True)
class PaymentFailed(Fact):
    """``invoice.payment_failed``: an attempt on an invoice failed (Stripe's or ours)."""

    invoice_id: str
    customer_id: str | None
    subscription_id: str | None
    amount_due: int
    currency: str
    attempt_count: int
    next_payment_attempt: datetime | None
    billing_reason: str | None
    charge_id: str | None  # pre-basil invoices name their charge / payment intent directly
    payment_intent_id: str | None
    hosted_invoice_url: str | None = None
    # Set when our own API call (e.g. a retry's invoices.pay) caused the failure.
    idempotency_key: str | None = None
    # The billing address on the invoice (``customer_address``): where the customer lives.
    customer_country: str | None = None  # ISO 3166-1 alpha-2
    customer_state: str | None = None  # state, province or region, as entered
    # The subscription's billing interval in days, from the first invoice line's period.
    interval_days: int | None = None


@dataclass(frozen=True)
class ChargeFailed(Fact):
    """``charge.failed`` / ``payment_intent.payment_failed``: decline details and the card."""

    charge_id: str | None
    payment_intent_id: str | None
    invoice_id: str | None  # only pre-basil charges name their invoice
    customer_id: str | None
    amount: int
    currency: str
    decline: DeclineInfo
    card: CardInfo | None


@dataclass(frozen=True)
class InvoicePaid(Fact):
    """``invoice.paid`` (or ``invoice.payment_succeeded``): the invoice is settled."""

    invoice_id: str
    customer_id: str | None
    subscription_id: str | None
    amount_paid: int
    currency: str
    paid_out_of_band: bool = False
    # Set when our own API call (a retry's invoices.pay) paid it: its answer may never come back.
    idempotency_key: str | None = None


@dataclass(frozen=True)
class InvoiceClosed(Fact):
    """``invoice.voided`` / ``invoice.marked_uncollectible``: closed without payment."""

    invoice_id: str
    status: str  # void | uncollectible
    reason: str | None = None  # status_details.uncollectible.reason on endive
    # Set when our own API call closed it (the end of dunning's invoice step).
    idempotency_key: str | None = None


@dataclass(frozen=True)
class PaymentMethodChanged(Fact):
    """A customer's card changed: attached, automatically updated, or a new default."""

    customer_id: str | None
    payment_method_id: str | None
    card: CardInfo | None
    automatic: bool  # True: the network card updater changed it, not the customer
    source: str  # the event type that reported it


@dataclass(frozen=True)
class SubscriptionCanceled(Fact):
    subscription_id: str
    customer_id: str | None
    reason: str | None = None  # cancellation_details.reason


@dataclass(frozen=True)
class ActionRequired(Fact):
    """``invoice.payment_action_required``: the customer must authenticate (3-D Secure)."""

    invoice_id: str
    customer_id: str | None
    subscription_id: str | None
    hosted_invoice_url: str | None = None


@dataclass(frozen=True)
class CardExpiring(Fact):
    """``customer.source.expiring``: a card expires at the end of the month."""

    customer_id: str | None
    card: CardInfo


AnyFact = (
    PaymentFailed | ChargeFailed | InvoicePaid | InvoiceClosed | PaymentMethodChanged
    | SubscriptionCanceled | ActionRequired | CardExpiring
)
