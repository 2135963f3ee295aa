"""Turns a decoded Stripe v1 snapshot event of any supported API version into a version-free fact.

It owns every read of a raw payload's layout (2020-08-27 up to 2026-10-28.endive). It must not
touch the database, call Stripe, or let anything but ``ParseError`` escape for a dict input.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from webhooks.facts import (
    ActionRequired,
    AnyFact,
    CardExpiring,
    CardInfo,
    ChargeFailed,
    DeclineInfo,
    InvoiceClosed,
    InvoicePaid,
    PaymentFailed,
    PaymentMethodChanged,
    SubscriptionCanceled,
)
from webhooks.payload_reader import MAX_ID_LENGTH, ParseError, PayloadReader

THIN_EVENT_OBJECT = "v2.core.event"

# The longest codes the engine stores (its columns' widths; Stripe's values are shorter): longer
# ones are bad data of this event, refused here rather than by the database.
CODE_LENGTH = 64  # failure and decline codes, outcome reasons, card fingerprints
SHORT_CODE_LENGTH = 32  # advice codes, outcome types
NETWORK_CODE_LENGTH = 8  # raw network decline and advice codes ("51", "03")
BRAND_LENGTH = 20
FUNDING_LENGTH = 10
COUNTRY_LENGTH = 2
LAST4_LENGTH = 4

# Legacy Card objects spell brands for display ("American Express", "MasterCard"); charges and
# PaymentMethods use lower-case keys, so every brand is reduced to the PaymentMethod spelling.
_BRAND_ALIASES = {
    "american express": "amex",
    "diners club": "diners",
    "cartes bancaires": "cartes_bancaires",
}


@dataclass(frozen=True)
class _Event:
    """The envelope fields every handler needs, already checked."""

    event_id: str
    occurred_at: datetime
    type: str
    obj: PayloadReader
    previous: PayloadReader
    idempotency_key: str | None = None  # of the API request that caused the event, if any


def _brand(value: str | None) -> str | None:
    lowered = (value or "").strip().lower()
    if not lowered:
        return None
    return _BRAND_ALIASES.get(lowered, lowered.replace(" ", "_"))


def _card(card: PayloadReader, payment_method_id: str | None) -> CardInfo:
    return CardInfo(
        fingerprint=card.text("fingerprint", max_length=CODE_LENGTH),
        brand=_brand(card.text("brand", max_length=BRAND_LENGTH)),
        funding=card.text("funding", max_length=FUNDING_LENGTH),
        country=card.text("country", max_length=COUNTRY_LENGTH),
        exp_month=card.integer("exp_month"),
        exp_year=card.integer("exp_year"),
        last4=card.text("last4", max_length=LAST4_LENGTH),
        payment_method_id=payment_method_id,
    )


def _bare_card(payment_method_id: str | None) -> CardInfo | None:
    # The payment method is known only by id: still worth passing on, it names what failed.
    # Its kind is unknown too, so nothing is inferred from it.
    if payment_method_id is None:
        return None
    return CardInfo(fingerprint=None, payment_method_id=payment_method_id, kind=None)


def _bank_account(details: PayloadReader, kind: str, payment_method_id: str | None) -> CardInfo:
    # A bank debit's block (us_bank_account, sepa_debit, ...) carries the account's fingerprint:
    # the network budget counts its attempts by it, as it counts a card's by the card's.
    return CardInfo(
        fingerprint=details.text("fingerprint"),
        country=details.text("country"),
        last4=details.text("last4"),
        payment_method_id=payment_method_id,
        kind=kind,
    )


def _method_info(holder: PayloadReader, payment_method_id: str | None) -> CardInfo | None:
    """The card or bank account of a PaymentMethod or a charge's ``payment_method_details``."""
    card = holder.child("card")
    if card.present:
        return _card(card, payment_method_id)
    kind = holder.text("type")
    if kind and kind != "card" and holder.child(kind).present:
        return _bank_account(holder.child(kind), kind, payment_method_id)
    return None


# --- invoices --------------------------------------------------------------------------------


def _invoice_subscription(invoice: PayloadReader) -> str | None:
    # Before basil (2025-03-31) the subscription is a top-level field; since then it lives under
    # parent.subscription_details.
    top_level = invoice.ref("subscription")
    if top_level is not None:
        return top_level
    return invoice.child("parent").child("subscription_details").ref("subscription")


def _invoice_charge_and_intent(invoice: PayloadReader) -> tuple[str | None, str | None]:
    charge_id, intent_id = invoice.ref("charge"), invoice.ref("payment_intent")
    # Basil removed both fields; an expanded `payments` list names them instead. Prefer the
    # default InvoicePayment (the one created at finalization), else the first listed.
    entries = invoice.child("payments").items("data")
    chosen = next((e for e in entries if e.flag("is_default")), entries[0] if entries else None)
    if chosen is not None:
        payment = chosen.child("payment")
        charge_id = charge_id or payment.ref("charge")
        intent_id = intent_id or payment.ref("payment_intent")
    return charge_id, intent_id


def _customer_place(invoice: PayloadReader) -> tuple[str | None, str | None]:
    # Only a hint for the customer's time zone: an odd address never fails the failure event.
    try:
        address = invoice.child("customer_address")
        return address.text("country"), address.text("state")
    except ParseError:
        return None, None


def _interval_days(invoice: PayloadReader) -> int | None:
    # Only a feature for the scorer: a line without a readable period never fails the event.
    try:
        lines = invoice.child("lines").items("data")
        if not lines:
            return None
        period = lines[0].child("period")
        start, end = period.timestamp("start"), period.timestamp("end")
    except ParseError:
        return None
    if start is None or end is None or end <= start:
        return None
    return max(1, round((end - start).total_seconds() / 86400))


def _payment_failed(event: _Event) -> PaymentFailed:
    inv = event.obj
    charge_id, intent_id = _invoice_charge_and_intent(inv)
    country, state = _customer_place(inv)
    return PaymentFailed(
        event_id=event.event_id,
        occurred_at=event.occurred_at,
        invoice_id=inv.identifier("id", required=True),
        customer_id=inv.ref("customer"),
        subscription_id=_invoice_subscription(inv),
        amount_due=inv.integer("amount_due", required=True),
        currency=inv.currency("currency", required=True),
        attempt_count=inv.integer("attempt_count", required=True),
        next_payment_attempt=inv.timestamp("next_payment_attempt"),
        billing_reason=inv.text("billing_reason"),
        charge_id=charge_id,
        payment_intent_id=intent_id,
        hosted_invoice_url=inv.text("hosted_invoice_url"),
        idempotency_key=event.idempotency_key,
        customer_country=country,
        customer_state=state,
        interval_days=_interval_days(inv),
    )


def _invoice_paid(event: _Event) -> InvoicePaid:
    inv = event.obj
    return InvoicePaid(
        event_id=event.event_id,
        occurred_at=event.occurred_at,
        invoice_id=inv.identifier("id", required=True),
        customer_id=inv.ref("customer"),
        subscription_id=_invoice_subscription(inv),
        amount_paid=inv.integer("amount_paid", required=True),
        currency=inv.currency("currency", required=True),
        # Removed in basil; newer payloads cannot tell, so "not out of band" is the default.
        paid_out_of_band=bool(inv.flag("paid_out_of_band")),
        idempotency_key=event.idempotency_key,
    )


def _invoice_closed(event: _Event) -> InvoiceClosed:
    voided = event.type == "invoice.voided"
    # status_details.uncollectible.reason exists only from endive (2026-09-30) on.
    uncollectible = event.obj.child("status_details").child("uncollectible")
    return InvoiceClosed(
        event_id=event.event_id,
        occurred_at=event.occurred_at,
        invoice_id=event.obj.identifier("id", required=True),
        status="void" if voided else "uncollectible",
        reason=None if voided else uncollectible.text("reason"),
        idempotency_key=event.idempotency_key,
    )


def _action_required(event: _Event) -> ActionRequired:
    inv = event.obj
    return ActionRequired(
        event_id=event.event_id,
        occurred_at=event.occurred_at,
        invoice_id=inv.identifier("id", required=True),
        customer_id=inv.ref("customer"),
        subscription_id=_invoice_subscription(inv),
        hosted_invoice_url=inv.text("hosted_invoice_url"),
    )


# --- charges and payment intents -------------------------------------------------------------


def _charge_decline(charge: PayloadReader, charge_id: str, intent_id: str | None) -> DeclineInfo:
    outcome = charge.child("outcome")
    outcome_type = outcome.text("type", max_length=SHORT_CODE_LENGTH)
    reason = outcome.text("reason", max_length=CODE_LENGTH)
    return DeclineInfo(
        failure_code=charge.text("failure_code", max_length=CODE_LENGTH),
        # A charge has no decline_code field: for issuer declines outcome.reason carries it; for
        # blocks it is a Radar or Stripe reason, which is not an issuer decline code.
        decline_code=reason if outcome_type == "issuer_declined" else None,
        advice_code=outcome.text("advice_code", max_length=SHORT_CODE_LENGTH),
        network_decline_code=outcome.text("network_decline_code", max_length=NETWORK_CODE_LENGTH),
        network_advice_code=outcome.text("network_advice_code", max_length=NETWORK_CODE_LENGTH),
        outcome_type=outcome_type,
        outcome_reason=reason,
        network_status=outcome.text("network_status"),
        message=charge.text("failure_message"),
        charge_id=charge_id,
        payment_intent_id=intent_id,
    )


def _charge_card(charge: PayloadReader) -> CardInfo | None:
    pm_id = charge.ref("payment_method")
    method = _method_info(charge.child("payment_method_details"), pm_id)
    if method is not None:
        return method
    # Charges on legacy card sources carry the card itself as `source`.
    source = charge.child("source")
    if source.obj.get("object") == "card":
        return _card(source, pm_id or source.identifier("id"))
    return _bare_card(pm_id)


def _charge_failed(event: _Event) -> ChargeFailed:
    charge = event.obj
    charge_id = charge.identifier("id", required=True)
    intent_id = charge.ref("payment_intent")
    return ChargeFailed(
        event_id=event.event_id,
        occurred_at=event.occurred_at,
        charge_id=charge_id,
        payment_intent_id=intent_id,
        invoice_id=charge.ref("invoice"),  # gone since basil
        customer_id=charge.ref("customer"),
        amount=charge.integer("amount", required=True),
        currency=charge.currency("currency", required=True),
        decline=_charge_decline(charge, charge_id, intent_id),
        card=_charge_card(charge),
    )


def _intent_decline(error: PayloadReader, charge_id: str | None, intent_id: str) -> DeclineInfo:
    return DeclineInfo(
        failure_code=error.text("code", max_length=CODE_LENGTH),
        decline_code=error.text("decline_code", max_length=CODE_LENGTH),
        advice_code=error.text("advice_code", max_length=SHORT_CODE_LENGTH),
        network_decline_code=error.text("network_decline_code", max_length=NETWORK_CODE_LENGTH),
        network_advice_code=error.text("network_advice_code", max_length=NETWORK_CODE_LENGTH),
        message=error.text("message"),
        charge_id=charge_id,
        payment_intent_id=intent_id,
    )


def _intent_failed(event: _Event) -> ChargeFailed:
    intent = event.obj
    intent_id = intent.identifier("id", required=True)
    error = intent.child("last_payment_error")
    charge_id = error.ref("charge") or intent.ref("latest_charge")
    # Webhooks usually embed the whole PaymentMethod here, card details included.
    pm_id = error.ref("payment_method")
    method = _method_info(error.expanded("payment_method"), pm_id)
    return ChargeFailed(
        event_id=event.event_id,
        occurred_at=event.occurred_at,
        charge_id=charge_id,
        payment_intent_id=intent_id,
        invoice_id=intent.ref("invoice"),  # gone since basil
        customer_id=intent.ref("customer"),
        amount=intent.integer("amount", required=True),
        currency=intent.currency("currency", required=True),
        decline=_intent_decline(error, charge_id, intent_id),
        card=method or _bare_card(pm_id),
    )


# --- payment methods, customers, subscriptions, cards ----------------------------------------


def _payment_method_changed(event: _Event) -> PaymentMethodChanged:
    method = event.obj
    pm_id = method.identifier("id", required=True)
    return PaymentMethodChanged(
        event_id=event.event_id,
        occurred_at=event.occurred_at,
        customer_id=method.ref("customer"),
        payment_method_id=pm_id,
        card=_method_info(method, pm_id),
        automatic=event.type == "payment_method.automatically_updated",
        source=event.type,
    )


def _default_payment_method_changed(event: _Event) -> PaymentMethodChanged | None:
    # customer.updated fires for any change; only a new invoice default matters to recovery.
    # A default that was removed (now null) is no card to retry with, so it is no fact either.
    customer_id = event.obj.identifier("id", required=True)
    previous = event.previous.child("invoice_settings")
    if "default_payment_method" not in previous.obj:
        return None
    after = event.obj.child("invoice_settings").ref("default_payment_method")
    if after is None or after == previous.ref("default_payment_method"):
        return None
    return PaymentMethodChanged(
        event_id=event.event_id,
        occurred_at=event.occurred_at,
        customer_id=customer_id,
        payment_method_id=after,
        card=None,
        automatic=False,
        source=event.type,
    )


def _subscription_canceled(event: _Event) -> SubscriptionCanceled:
    sub = event.obj
    return SubscriptionCanceled(
        event_id=event.event_id,
        occurred_at=event.occurred_at,
        subscription_id=sub.identifier("id", required=True),
        customer_id=sub.ref("customer"),
        # cancellation_details is absent from older payloads.
        reason=sub.child("cancellation_details").text("reason"),
    )


def _card_expiring(event: _Event) -> CardExpiring:
    obj = event.obj
    card_id = obj.identifier("id", required=True)
    # A legacy Source keeps its card details one level down, under `card`.
    card = obj.child("card") if obj.obj.get("object") == "source" else obj
    return CardExpiring(
        event_id=event.event_id,
        occurred_at=event.occurred_at,
        customer_id=obj.ref("customer"),
        card=_card(card, card_id),
    )


# --- dispatch --------------------------------------------------------------------------------


class _Handler(NamedTuple):
    object_kinds: tuple[str, ...]  # accepted values of data.object.object
    parse: Callable[[_Event], AnyFact | None]


_INVOICE = ("invoice",)

_HANDLERS: dict[str, _Handler] = {
    "invoice.payment_failed": _Handler(_INVOICE, _payment_failed),
    "invoice.paid": _Handler(_INVOICE, _invoice_paid),
    "invoice.payment_succeeded": _Handler(_INVOICE, _invoice_paid),
    "invoice.voided": _Handler(_INVOICE, _invoice_closed),
    "invoice.marked_uncollectible": _Handler(_INVOICE, _invoice_closed),
    "invoice.payment_action_required": _Handler(_INVOICE, _action_required),
    "charge.failed": _Handler(("charge",), _charge_failed),
    "payment_intent.payment_failed": _Handler(("payment_intent",), _intent_failed),
    "payment_method.attached": _Handler(("payment_method",), _payment_method_changed),
    "payment_method.automatically_updated": _Handler(("payment_method",), _payment_method_changed),
    "customer.updated": _Handler(("customer",), _default_payment_method_changed),
    "customer.subscription.deleted": _Handler(("subscription",), _subscription_canceled),
    "customer.source.expiring": _Handler(("card", "source"), _card_expiring),
}

HANDLED_EVENT_TYPES = frozenset(_HANDLERS)


def parse_event(payload: dict[str, Any]) -> AnyFact | None:
    """Parse a v1 snapshot event into a fact; None for event types the engine does not use.

    Raises ParseError (and nothing else, for any input) when the payload is malformed. Thin events
    are refused with a ParseError: check ``is_thin_event`` first.
    """
    if not isinstance(payload, dict):
        raise ParseError(f"payload must be an object, got {type(payload).__name__}")
    try:
        return _dispatch(PayloadReader(payload, "payload"))
    except ParseError:
        raise
    except (KeyError, TypeError, AttributeError, ValueError, OverflowError) as exc:
        # The reader checks every type it returns; this is the last guard against a shape it
        # missed, so that one odd payload fails as bad input rather than as a crash.
        raise ParseError(f"unreadable payload: {type(exc).__name__}: {exc}") from exc


def _dispatch(payload: PayloadReader) -> AnyFact | None:
    kind = payload.obj.get("object")
    if kind == THIN_EVENT_OBJECT:
        raise ParseError("thin event (v2.core.event) has no snapshot; fetch its related object")
    if kind != "event":
        raise ParseError(f"payload.object must be 'event', got {kind!r}")
    event_id = payload.identifier("id", required=True)
    event_type = payload.identifier("type", required=True)
    occurred_at = payload.timestamp("created", required=True)
    handler = _HANDLERS.get(event_type)
    if handler is None:
        return None  # a type the engine does not use: stored as ignored, not an error
    return handler.parse(_event(payload, event_id, event_type, occurred_at, handler))


def _event(
    payload: PayloadReader, event_id: str, event_type: str, occurred_at: datetime, handler: _Handler
) -> _Event:
    data = payload.child("data")
    if not data.present:
        raise ParseError("payload.data is missing")
    obj = data.child("object")
    if not obj.present:
        raise ParseError("payload.data.object is missing")
    kind = obj.obj.get("object")
    if kind not in handler.object_kinds:
        expected = " or ".join(handler.object_kinds)
        raise ParseError(f"{event_type}: data.object.object must be {expected}, got {kind!r}")
    previous = data.child("previous_attributes")
    return _Event(event_id, occurred_at, event_type, obj, previous, _request_key(payload.obj))


def _request_key(payload: dict) -> str | None:
    # Old API versions send `request` as a bare id string; newer ones as {id, idempotency_key}.
    request = payload.get("request")
    key = request.get("idempotency_key") if isinstance(request, dict) else None
    # Keys we did not make (a dashboard action, another integration) only need to not be ours.
    usable = isinstance(key, str) and 0 < len(key) <= MAX_ID_LENGTH and "\x00" not in key
    return key if usable else None


# --- thin events -----------------------------------------------------------------------------


def is_thin_event(payload: Any) -> bool:
    """True for a thin (v2) event notification, which carries a reference instead of a snapshot."""
    return isinstance(payload, dict) and payload.get("object") == THIN_EVENT_OBJECT


def thin_event_reference(payload: Any) -> tuple[str | None, str | None]:
    """The (id, type) of a thin event's related object; (None, None) when it names none."""
    related = payload.get("related_object") if is_thin_event(payload) else None
    if not isinstance(related, dict):
        return None, None
    object_id, object_type = related.get("id"), related.get("type")
    return (
        object_id if isinstance(object_id, str) else None,
        object_type if isinstance(object_type, str) else None,
    )
