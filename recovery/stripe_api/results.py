"""Values the Stripe gateway returns, and how they are read from Stripe's response objects.

Readers take the SDK's objects by attribute only (``getattr``), so this module never imports the
Stripe SDK and callers never see a ``stripe.*`` object. Field names follow API version
2026-10-28.endive: since basil (2025-03-31) an invoice names its subscription under
``parent.subscription_details`` and its payments under ``payments``, not ``charge``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from webhooks.facts import CardInfo, DeclineInfo

REQUIRES_ACTION_CODE = "invoice_payment_intent_requires_action"
# Stripe's answer when the customer has nothing to charge, or a named method is not theirs.
NO_PAYMENT_METHOD_PHRASES = ("no attached payment source", "default payment method",
                             "does not belong to the customer")
PAYMENT_METHOD_PARAMS = frozenset({"payment_method", "source"})


class Refusal(enum.StrEnum):
    """Why Stripe refused a ``pay`` call outright (HTTP 400/404: no charge was made)."""

    invoice_not_open = "invoice_not_open"  # paid, void or uncollectible meanwhile
    no_payment_method = "no_payment_method"  # nothing (or nothing valid) to charge
    processing = "processing"  # a payment of the invoice is still in flight
    other = "other"


@dataclass(frozen=True)
class InvoiceState:
    """An invoice as Stripe holds it now (re-read before every charge)."""

    id: str
    status: str | None  # draft | open | paid | uncollectible | void
    customer_id: str | None
    subscription_id: str | None
    amount_due: int
    amount_remaining: int
    currency: str
    attempt_count: int
    next_payment_attempt: datetime | None
    auto_advance: bool | None
    default_payment_method_id: str | None
    hosted_invoice_url: str | None


@dataclass(frozen=True)
class SubscriptionState:
    """A subscription as Stripe holds it now (re-read before every charge of its invoices)."""

    id: str
    status: str | None  # active | past_due | unpaid | paused | canceled | incomplete_expired ...

    @property
    def ended(self) -> bool:
        # Both are final: Stripe never bills a canceled or expired subscription again.
        return self.status in ("canceled", "incomplete_expired")


@dataclass(frozen=True)
class PaymentOutcome:
    """What one ``pay`` call did. A decline is a value here, never an exception.

    ``paid=False`` with neither ``decline``, ``refusal`` nor ``requires_action`` means Stripe
    accepted the attempt but has not settled it yet (``pending``: an asynchronous payment).
    """

    paid: bool
    decline: DeclineInfo | None
    card: CardInfo | None
    charge_id: str | None
    payment_intent_id: str | None
    not_payable: str | None = None  # Stripe's reason for a refusal, as it said it
    requires_action: bool = False  # the customer must authenticate (3-D Secure) on-session
    refusal: Refusal | None = None  # what kind of refusal ``not_payable`` is

    @property
    def pending(self) -> bool:
        return not (self.paid or self.decline or self.refusal or self.requires_action)


@dataclass(frozen=True)
class AttemptDetails:
    """The latest payment attempt on an invoice, with its decline details and card."""

    decline: DeclineInfo | None
    card: CardInfo | None
    charge_id: str | None
    payment_intent_id: str | None
    succeeded: bool


@dataclass(frozen=True)
class CustomerContact:
    """How to reach a customer and in which language: what a message needs from Stripe."""

    email: str | None
    name: str | None
    phone: str | None
    preferred_locales: tuple[str, ...] = ()
    deleted: bool = False



@dataclass(frozen=True)
class StripeAccountInfo:
    """The Stripe account a key (or a Connect ``acct_`` id) reaches: GET /v1/account."""

    id: str
    display_name: str | None
    country: str | None


@dataclass(frozen=True)
class RegisteredEndpoint:
    """A webhook endpoint just created; Stripe shows its signing secret in this answer only."""

    id: str
    secret: str = field(repr=False)
    livemode: bool
    enabled_events: tuple[str, ...]
    api_version: str | None


def read_account(account: Any) -> StripeAccountInfo:
    name = (_attr(_attr(_attr(account, "settings"), "dashboard"), "display_name")
            or _attr(_attr(account, "business_profile"), "name"))
    return StripeAccountInfo(id=_attr(account, "id"), display_name=name,
                             country=_attr(account, "country"))


def read_endpoint(endpoint: Any) -> RegisteredEndpoint:
    return RegisteredEndpoint(id=_attr(endpoint, "id"), secret=_attr(endpoint, "secret") or "",
                              livemode=bool(_attr(endpoint, "livemode")),
                              enabled_events=tuple(_attr(endpoint, "enabled_events") or ()),
                              api_version=_attr(endpoint, "api_version"))

# Legacy Card objects (customer sources) spell brands for display ("American Express");
# PaymentMethod and Charge details use lowercase ids ("amex"). Keep one spelling.
_LEGACY_BRANDS = {
    "American Express": "amex",
    "Diners Club": "diners",
    "MasterCard": "mastercard",
    "UnionPay": "unionpay",
    "Cartes Bancaires": "cartes_bancaires",
}


def _attr(obj: Any, name: str) -> Any:
    return None if obj is None else getattr(obj, name, None)


def id_of(value: Any) -> str | None:
    """The id of an expandable field, whether Stripe sent the id or the expanded object."""
    if value is None or isinstance(value, str):
        return value
    return getattr(value, "id", None)


def _expanded(value: Any) -> Any:
    """The expanded object, or None when Stripe sent only an id."""
    return None if value is None or isinstance(value, str) else value


def _timestamp(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, tz=UTC)


def read_invoice(invoice: Any) -> InvoiceState:
    details = _attr(_attr(invoice, "parent"), "subscription_details")
    return InvoiceState(
        id=invoice.id,
        status=_attr(invoice, "status"),
        customer_id=id_of(_attr(invoice, "customer")),
        subscription_id=id_of(_attr(details, "subscription")),
        amount_due=_attr(invoice, "amount_due") or 0,
        amount_remaining=_attr(invoice, "amount_remaining") or 0,
        currency=_attr(invoice, "currency") or "",
        attempt_count=_attr(invoice, "attempt_count") or 0,
        next_payment_attempt=_timestamp(_attr(invoice, "next_payment_attempt")),
        auto_advance=_attr(invoice, "auto_advance"),
        default_payment_method_id=id_of(_attr(invoice, "default_payment_method")),
        hosted_invoice_url=_attr(invoice, "hosted_invoice_url"),
    )


def read_subscription(subscription: Any) -> SubscriptionState:
    return SubscriptionState(id=subscription.id, status=_attr(subscription, "status"))


def read_paid_invoice(invoice: Any) -> PaymentOutcome:
    """The outcome of a ``pay`` call that returned an invoice (paid, or still processing)."""
    payment = _settling_payment(invoice)
    return PaymentOutcome(
        paid=_attr(invoice, "status") == "paid",
        decline=None,
        card=None,
        charge_id=id_of(_attr(payment, "charge")),
        payment_intent_id=id_of(_attr(payment, "payment_intent")),
    )


def _settling_payment(invoice: Any) -> Any:
    """The ``payment`` of the invoice's paid InvoicePayment, else its newest one, if listed."""
    listed = list(_attr(_attr(invoice, "payments"), "data") or [])
    if not listed:
        return None
    paid = [p for p in listed if _attr(p, "status") == "paid"]
    chosen = max(paid or listed, key=lambda p: _attr(p, "created") or 0)
    return _attr(chosen, "payment")


def payment_as_of(entries: list[Any], at: datetime | None) -> Any:
    """The InvoicePayment an attempt made at ``at`` belongs to: the newest created by then (a
    payment created later cannot hold it), else the oldest listed; the newest when no ``at``."""
    return newest_as_of(entries, at) or min(entries, key=_created)


def newest_as_of(objects: list[Any], at: datetime | None) -> Any:
    """The newest of ``objects`` created at or before ``at`` (any, when no ``at``), or None."""
    earlier = [obj for obj in objects if not is_after(obj, at)]
    return max(earlier, key=_created) if earlier else None


def is_after(obj: Any, at: datetime | None) -> bool:
    """``obj`` (a charge, payment, ...) was created after ``at``; False when either is unknown."""
    created = _attr(_expanded(obj), "created")
    return at is not None and created is not None and created > at.timestamp()


def _created(obj: Any) -> int:
    return _attr(obj, "created") or 0


def read_declined_payment(error: Any) -> PaymentOutcome:
    """The outcome of a ``pay`` call that Stripe answered with a card error (HTTP 402)."""
    intent = _attr(error, "payment_intent")
    method = _expanded(_attr(error, "payment_method")) or _expanded(
        _attr(_attr(_expanded(intent), "last_payment_error"), "payment_method")
    )
    decline = read_decline(charge=None, error=error, payment_intent_id=id_of(intent))
    return PaymentOutcome(
        paid=False,
        decline=decline,
        card=read_payment_method_card(method),
        charge_id=decline.charge_id,
        payment_intent_id=decline.payment_intent_id,
        requires_action=_attr(error, "code") == REQUIRES_ACTION_CODE,
    )


def read_refused_payment(error: Any, *, code: str | None, message: str | None) -> PaymentOutcome:
    """The outcome of a ``pay`` call refused with HTTP 400/404: the customer must authenticate,
    or Stripe would not charge (see ``Refusal``)."""
    intent_id = id_of(_attr(error, "payment_intent"))
    if code == REQUIRES_ACTION_CODE:
        # An attempt all the same: it is recorded, and its class waits for the customer.
        decline = DeclineInfo(failure_code=code, message=message, payment_intent_id=intent_id)
        return PaymentOutcome(False, decline, None, None, intent_id, requires_action=True)
    return PaymentOutcome(
        False, None, None, None, intent_id, not_payable=_not_payable_reason(code, message),
        refusal=classify_refusal(code, message, _attr(error, "param"), _expanded(
            _attr(error, "payment_intent"))),
    )


def classify_refusal(code: str | None, message: str | None, param: str | None,
                     intent: Any = None) -> Refusal:
    """Stripe gives these refusals few stable codes, so the message is read too."""
    text = (message or "").lower()
    if code == "invoice_not_open" or "already paid" in text:
        return Refusal.invoice_not_open
    if _attr(intent, "status") == "processing" or "processing" in text:
        return Refusal.processing
    if param in PAYMENT_METHOD_PARAMS or any(p in text for p in NO_PAYMENT_METHOD_PHRASES):
        return Refusal.no_payment_method
    return Refusal.other


def _not_payable_reason(code: str | None, message: str | None) -> str:
    # Stripe answers a second payment with "Invoice is already paid"; name that case plainly.
    if message and "already paid" in message.lower():
        return "already_paid"
    code = code or "invalid_request"
    return f"{code}: {message}" if message else code


def read_decline(*, charge: Any, error: Any, payment_intent_id: str | None) -> DeclineInfo:
    """Merge a failed charge's ``outcome`` with a payment error (``last_payment_error`` or an
    API error body); the error's codes win because they name this exact attempt."""
    outcome = _attr(charge, "outcome")
    issuer_reason = (
        _attr(outcome, "reason") if _attr(outcome, "type") == "issuer_declined" else None
    )
    return DeclineInfo(
        failure_code=_attr(error, "code") or _attr(charge, "failure_code"),
        decline_code=_attr(error, "decline_code") or issuer_reason,
        advice_code=_attr(error, "advice_code") or _attr(outcome, "advice_code"),
        network_decline_code=(
            _attr(error, "network_decline_code") or _attr(outcome, "network_decline_code")
        ),
        network_advice_code=(
            _attr(error, "network_advice_code") or _attr(outcome, "network_advice_code")
        ),
        outcome_type=_attr(outcome, "type"),
        outcome_reason=_attr(outcome, "reason"),
        network_status=_attr(outcome, "network_status"),
        message=_attr(error, "message") or _attr(charge, "failure_message"),
        charge_id=id_of(charge) or id_of(_attr(error, "charge")),
        payment_intent_id=payment_intent_id or id_of(_attr(charge, "payment_intent")),
    )


def read_intent_attempt(intent: Any) -> AttemptDetails:
    """Details of a PaymentIntent's latest attempt; ``latest_charge`` should be expanded. An
    intent waiting for the customer to authenticate is a failed attempt that needs them."""
    charge = _expanded(_attr(intent, "latest_charge"))
    error = _attr(intent, "last_payment_error")
    status = _attr(intent, "status")
    succeeded = status == "succeeded"
    failed = not succeeded and (
        error is not None or _attr(charge, "status") == "failed" or status == "requires_action")
    card = read_charge_card(charge) or read_payment_method_card(
        _expanded(_attr(error, "payment_method"))
    )
    decline = read_decline(charge=charge, error=error, payment_intent_id=intent.id)
    if status == "requires_action" and decline.failure_code is None:
        decline = replace(decline, failure_code=REQUIRES_ACTION_CODE)
    return AttemptDetails(
        decline=decline if failed else None,
        card=card,
        charge_id=id_of(_attr(intent, "latest_charge")) or id_of(_attr(error, "charge")),
        payment_intent_id=intent.id,
        succeeded=succeeded,
    )


def read_charge_attempt(charge: Any) -> AttemptDetails:
    status = _attr(charge, "status")
    failed = status == "failed"
    return AttemptDetails(
        decline=read_decline(charge=charge, error=None, payment_intent_id=None) if failed else None,
        card=read_charge_card(charge),
        charge_id=charge.id,
        payment_intent_id=id_of(_attr(charge, "payment_intent")),
        succeeded=status == "succeeded",
    )


def read_charge_card(charge: Any) -> CardInfo | None:
    """The card (or bank account) a charge's ``payment_method_details`` names."""
    return _method_info(_attr(charge, "payment_method_details"),
                        payment_method_id=id_of(_attr(charge, "payment_method")))


def read_payment_method_card(method: Any) -> CardInfo | None:
    """The card (or bank account, with its kind) of a PaymentMethod object; None for a method
    that is neither."""
    return _method_info(method, payment_method_id=_attr(method, "id"))


def _method_info(holder: Any, *, payment_method_id: str | None) -> CardInfo | None:
    card = _attr(holder, "card")
    if card is not None:
        return _card_info(card, payment_method_id=payment_method_id)
    # A bank debit (us_bank_account, sepa_debit, ...) keeps its details under its type's name,
    # with the bank account's fingerprint: its attempts are counted by that.
    kind = _attr(holder, "type")
    bank = _attr(holder, kind) if isinstance(kind, str) and kind != "card" else None
    if bank is None:
        return None
    return CardInfo(fingerprint=_attr(bank, "fingerprint"), country=_attr(bank, "country"),
                    last4=_attr(bank, "last4"), payment_method_id=payment_method_id, kind=kind)


def read_source_card(source: Any) -> CardInfo | None:
    """A legacy ``card_…`` customer source (``customer.default_source``); None for others."""
    if _attr(source, "object") != "card":
        return None
    return _card_info(source, payment_method_id=_attr(source, "id"))


def _card_info(card: Any, *, payment_method_id: str | None) -> CardInfo:
    brand = _attr(card, "brand")
    return CardInfo(
        fingerprint=_attr(card, "fingerprint"),
        brand=_LEGACY_BRANDS.get(brand, brand.lower()) if brand else None,
        funding=_attr(card, "funding"),
        country=_attr(card, "country"),
        exp_month=_attr(card, "exp_month"),
        exp_year=_attr(card, "exp_year"),
        last4=_attr(card, "last4"),
        payment_method_id=payment_method_id,
    )
