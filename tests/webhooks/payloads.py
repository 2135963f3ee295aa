"""Builders of Stripe v1 webhook events, laid out as each supported API version renders them.

Every builder takes keyword overrides and returns a fresh JSON-ready dict; event ids are unique
per call. Three versions are modelled: ``OLDEST`` (2020-08-27), ``ACACIA`` (2024-09-30.acacia)
and ``LATEST`` (2026-10-28.endive). Since basil (2025-03-31) an invoice has no ``charge``,
``payment_intent``, ``paid`` or ``subscription`` (it has ``parent`` and ``payments``), and charges
and payment intents no longer name their invoice.

Event builders (``invoice_event``, ``charge_failed_event``, ...) take the envelope keywords of
``stripe_event`` (created, event_id, livemode, account, previous_attributes, request_id) and pass
every other keyword to the matching ``*_object`` builder::

    invoice_event("invoice.payment_failed", ACACIA, attempt_count=2, created=clock.now())
    charge_failed_event(LATEST, decline_code="do_not_honor", network_decline_code="05")
"""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime
from typing import Any

OLDEST = "2020-08-27"
ACACIA = "2024-09-30.acacia"
LATEST = "2026-10-28.endive"
API_VERSIONS = (OLDEST, ACACIA, LATEST)

CREATED = 1_793_628_000  # 2026-11-02 14:00 UTC, the test suite's starting clock
CUSTOMER_ID = "cus_TestCustomer0001"
SUBSCRIPTION_ID = "sub_TestSubscription01"
INVOICE_ID = "in_TestInvoice0000001"
CHARGE_ID = "ch_TestCharge00000001"
PAYMENT_INTENT_ID = "pi_TestIntent00000001"
PAYMENT_METHOD_ID = "pm_TestCardVisa000001"
CARD_ID = "card_TestCardVisa0001"
FINGERPRINT = "fpTestVisa4242AB"

Timestamp = int | datetime
_AUTO: Any = object()  # "derive this from the other arguments"

_ENVELOPE_KEYS = ("created", "event_id", "livemode", "account", "previous_attributes", "request_id")


def new_id(prefix: str) -> str:
    """A fresh Stripe-looking id such as ``evt_test3f9c...``."""
    return f"{prefix}_test{uuid.uuid4().hex[:20]}"


def unix(value: Timestamp | None) -> int | None:
    """Seconds since the epoch, from an int or an aware datetime."""
    return int(value.timestamp()) if isinstance(value, datetime) else value


def is_basil_or_later(version: str) -> bool:
    # Version names start with their date, so string order is release order.
    return version[:10] >= "2025-03-31"


def _copy_to_parent(payload: dict[str, Any], path: str) -> tuple[dict[str, Any], Any, str]:
    result = copy.deepcopy(payload)
    *parents, last = path.split(".")
    node = result
    for key in parents:
        node = node[key]
    return result, node, last


def without(payload: dict[str, Any], path: str) -> dict[str, Any]:
    """A deep copy of ``payload`` with the dotted ``path`` (e.g. ``data.object.id``) removed."""
    result, parent, key = _copy_to_parent(payload, path)
    del parent[key]
    return result


def with_field(payload: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of ``payload`` with the dotted ``path`` set to ``value``."""
    result, parent, key = _copy_to_parent(payload, path)
    parent[key] = value
    return result


def stripe_event(
    event_type: str,
    data_object: dict[str, Any],
    version: str = LATEST,
    *,
    created: Timestamp = CREATED,
    event_id: str | None = None,
    livemode: bool = False,
    account: str | None = None,
    previous_attributes: dict[str, Any] | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """The v1 snapshot envelope around ``data_object``; ``account`` marks a Connect event."""
    data: dict[str, Any] = {"object": data_object}
    if previous_attributes is not None:
        data["previous_attributes"] = previous_attributes
    event = {
        "id": event_id or new_id("evt"),
        "object": "event",
        "api_version": version,
        "created": unix(created),
        "data": data,
        "livemode": livemode,
        "pending_webhooks": 1,
        # A null request id means Stripe acted on its own (a scheduled retry, for instance).
        "request": {"id": request_id, "idempotency_key": None},
        "type": event_type,
    }
    if account is not None:
        event["account"] = account
    return event


def _build(event_type: str, version: str, build_object, fields: dict[str, Any]) -> dict[str, Any]:
    envelope = {key: fields.pop(key) for key in _ENVELOPE_KEYS if key in fields}
    return stripe_event(event_type, build_object(version, **fields), version, **envelope)


def _list(data: list[dict[str, Any]], url: str) -> dict[str, Any]:
    return {"object": "list", "data": data, "has_more": False, "url": url}


# --- invoices --------------------------------------------------------------------------------

_INVOICE_STATUS = {
    "invoice.paid": "paid",
    "invoice.payment_succeeded": "paid",
    "invoice.voided": "void",
    "invoice.marked_uncollectible": "uncollectible",
}


def _invoice_line(
    version: str, invoice_id: str, subscription: Any, amount: int, currency: str
) -> dict[str, Any]:
    line = {
        "id": "il_TestLine0000000001",
        "object": "line_item",
        "amount": amount,
        "currency": currency,
        "description": "1 × Pro plan (at $25.00 / month)",
        "invoice": invoice_id,
        "period": {"start": CREATED - 30 * 86_400, "end": CREATED},
        "quantity": 1,
    }
    if is_basil_or_later(version):
        line["pricing"] = {"type": "price_details", "price_details": {"price": "price_TestPro"}}
        details = {
            "subscription": subscription,
            "subscription_item": "si_TestItem",
            "proration": False,
        }
        line["parent"] = {"type": "subscription_item_details", "subscription_item_details": details}
    else:
        line.update(subscription=subscription, type="subscription", proration=False)
        line["price"] = {"id": "price_TestPro", "object": "price", "unit_amount": amount}
    return line


def _invoice_payments(
    invoice_id: str, charge: Any, payment_intent: Any, status: str, amount: int, currency: str
) -> dict[str, Any]:
    if payment_intent is not None:
        payment = {"type": "payment_intent", "payment_intent": payment_intent}
    elif charge is not None:
        payment = {"type": "charge", "charge": charge}
    else:
        return _list([], f"/v1/invoices/{invoice_id}/payments")
    paid = status == "paid"
    entry = {
        "id": "inpay_TestPayment0001",
        "object": "invoice_payment",
        "amount_paid": amount if paid else None,
        "amount_requested": amount,
        "created": CREATED - 3600,
        "currency": currency,
        "invoice": invoice_id,
        "is_default": True,
        "livemode": False,
        "payment": payment,
        "status": "paid" if paid else "open",
        "status_transitions": {"canceled_at": None, "paid_at": CREATED if paid else None},
    }
    return _list([entry], f"/v1/invoices/{invoice_id}/payments")


def invoice_object(
    version: str = LATEST,
    *,
    invoice_id: str = INVOICE_ID,
    customer: str | dict[str, Any] | None = CUSTOMER_ID,
    subscription: str | dict[str, Any] | None = SUBSCRIPTION_ID,
    status: str = "open",
    amount_due: int = 2500,
    amount_paid: int | None = None,
    currency: str = "usd",
    attempt_count: int = 1,
    next_payment_attempt: Timestamp | None = _AUTO,
    billing_reason: str | None = "subscription_cycle",
    charge: str | dict[str, Any] | None = CHARGE_ID,
    payment_intent: str | dict[str, Any] | None = PAYMENT_INTENT_ID,
    hosted_invoice_url: str | None = "https://invoice.stripe.com/i/acct_Test/test_TestInvoice",
    paid_out_of_band: bool = False,
    uncollectible_reason: str | None = "max_payment_attempts",
    include_payments: bool = True,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An Invoice. ``amount_paid`` defaults to ``amount_due`` when paid, else 0;
    ``next_payment_attempt`` to three days on while open, else null. On basil+ ``charge`` and
    ``payment_intent`` appear only inside ``payments`` (dropped with ``include_payments=False``),
    and ``uncollectible_reason`` only on endive uncollectible invoices."""
    paid = status == "paid"
    amount_paid = (amount_due if paid else 0) if amount_paid is None else amount_paid
    if next_payment_attempt is _AUTO:
        next_payment_attempt = CREATED + 3 * 86_400 if status == "open" else None
    invoice = {
        "id": invoice_id,
        "object": "invoice",
        "account_country": "US",
        "amount_due": amount_due,
        "amount_paid": amount_paid,
        "amount_remaining": amount_due - amount_paid,
        "attempt_count": attempt_count,
        "attempted": attempt_count > 0,
        "auto_advance": status == "open",
        "billing_reason": billing_reason,
        "collection_method": "charge_automatically",
        "created": CREATED - 3600,
        "currency": currency,
        "customer": customer,
        "customer_email": "jo@example.com",
        "default_payment_method": None,
        "discounts": [],
        "hosted_invoice_url": hosted_invoice_url,
        "invoice_pdf": None if hosted_invoice_url is None else f"{hosted_invoice_url}/pdf",
        "lines": _list(
            [_invoice_line(version, invoice_id, subscription, amount_due, currency)],
            f"/v1/invoices/{invoice_id}/lines",
        ),
        "livemode": False,
        "metadata": {},
        "next_payment_attempt": unix(next_payment_attempt),
        "number": "TEST-0001",
        "period_end": CREATED,
        "period_start": CREATED - 30 * 86_400,
        "status": status,
        "status_transitions": {
            "finalized_at": CREATED - 3600,
            "marked_uncollectible_at": CREATED if status == "uncollectible" else None,
            "paid_at": CREATED if paid else None,
            "voided_at": CREATED if status == "void" else None,
        },
        "subtotal": amount_due,
        "total": amount_due,
    }
    if is_basil_or_later(version):
        invoice.update(_basil_invoice_fields(invoice, subscription, charge, payment_intent))
        if not include_payments:
            del invoice["payments"]
        if version >= "2026-09-30":  # endive added status_details
            reason = uncollectible_reason if status == "uncollectible" else None
            invoice["status_details"] = {"uncollectible": {"reason": reason}} if reason else None
    else:
        invoice.update(_legacy_invoice_fields(version, subscription, charge, payment_intent))
        invoice.update(paid=paid, paid_out_of_band=paid_out_of_band)
    invoice.update(overrides or {})
    return invoice


def _legacy_invoice_fields(
    version: str, subscription: Any, charge: Any, payment_intent: Any
) -> dict[str, Any]:
    fields = {
        "charge": charge,
        "payment_intent": payment_intent,
        "subscription": subscription,
        "discount": None,
        "tax": None,
    }
    if version >= "2024":
        # Fields acacia renders that 2020-08-27 did not have yet.
        fields["subscription_details"] = {"metadata": {}}
        fields["issuer"] = {"type": "self"}
        fields["effective_at"] = CREATED - 3600
    return fields


def _basil_invoice_fields(
    invoice: dict[str, Any], subscription: Any, charge: Any, payment_intent: Any
) -> dict[str, Any]:
    parent = None
    if subscription is not None:
        details = {"subscription": subscription, "metadata": {}}
        parent = {"type": "subscription_details", "subscription_details": details}
    payments = _invoice_payments(
        invoice["id"],
        charge,
        payment_intent,
        invoice["status"],
        invoice["amount_due"],
        invoice["currency"],
    )
    return {
        "parent": parent,
        "payments": payments,
        "amount_overpaid": 0,
        "confirmation_secret": None,
        "total_taxes": [],
        "issuer": {"type": "self"},
        "effective_at": CREATED - 3600,
    }


def invoice_event(
    event_type: str = "invoice.payment_failed", version: str = LATEST, **fields: Any
) -> dict[str, Any]:
    """Any ``invoice.*`` event. ``status`` follows the type (paid, void, uncollectible, else
    open) unless given; other keywords: envelope ones, then ``invoice_object``'s."""
    fields.setdefault("status", _INVOICE_STATUS.get(event_type, "open"))
    return _build(event_type, version, invoice_object, fields)


# --- charges and payment intents -------------------------------------------------------------


def card_details(
    *,
    brand: str = "visa",
    funding: str = "credit",
    country: str = "US",
    exp_month: int = 12,
    exp_year: int = 2028,
    fingerprint: str | None = FINGERPRINT,
    last4: str = "4242",
) -> dict[str, Any]:
    """The card block of a charge's ``payment_method_details`` or of a PaymentMethod."""
    return {
        "brand": brand,
        "checks": {
            "address_line1_check": None,
            "address_postal_code_check": None,
            "cvc_check": None,
        },
        "country": country,
        "exp_month": exp_month,
        "exp_year": exp_year,
        "fingerprint": fingerprint,
        "funding": funding,
        "last4": last4,
        "networks": {"available": [brand], "preferred": None},
        "three_d_secure_usage": {"supported": True},
        "wallet": None,
    }


_CARD_KEYS = ("brand", "funding", "country", "exp_month", "exp_year", "fingerprint", "last4")


def _pop_card(fields: dict[str, Any]) -> dict[str, Any]:
    return card_details(**{key: fields.pop(key) for key in _CARD_KEYS if key in fields})


def charge_object(
    version: str = LATEST,
    *,
    charge_id: str = CHARGE_ID,
    amount: int = 2500,
    currency: str = "usd",
    customer: str | dict[str, Any] | None = CUSTOMER_ID,
    payment_intent: str | dict[str, Any] | None = PAYMENT_INTENT_ID,
    invoice: str | dict[str, Any] | None = INVOICE_ID,
    payment_method: str | None = PAYMENT_METHOD_ID,
    failure_code: str | None = "card_declined",
    failure_message: str | None = "Your card has insufficient funds.",
    decline_code: str | None = "insufficient_funds",
    outcome_type: str = "issuer_declined",
    network_status: str = "declined_by_network",
    network_decline_code: str | None = "51",
    network_advice_code: str | None = None,
    advice_code: str | None = None,
    overrides: dict[str, Any] | None = None,
    method_type: str = "card",
    **card: Any,
) -> dict[str, Any]:
    """A failed Charge. ``decline_code`` becomes ``outcome.reason`` (a charge has no
    decline_code field); ``invoice`` appears only before basil; ``card`` keywords (brand,
    fingerprint, funding, country, exp_month, exp_year, last4) fill payment_method_details
    (for a ``method_type`` other than card, its bank block: fingerprint, country, last4)."""
    details = _pop_card(card)
    if card:
        raise TypeError(f"unexpected keywords: {sorted(card)}")
    outcome = {
        "advice_code": advice_code,
        "network_advice_code": network_advice_code,
        "network_decline_code": network_decline_code,
        "network_status": network_status,
        "reason": decline_code,
        "risk_level": "normal",
        "seller_message": "The bank did not return any further details with this decline.",
        "type": outcome_type,
    }
    charge = {
        "id": charge_id,
        "object": "charge",
        "amount": amount,
        "amount_captured": 0,
        "amount_refunded": 0,
        "captured": False,
        "created": CREATED - 60,
        "currency": currency,
        "customer": customer,
        "description": "Subscription update",
        "failure_code": failure_code,
        "failure_message": failure_message,
        "livemode": False,
        "metadata": {},
        "outcome": outcome,
        "paid": False,
        "payment_intent": payment_intent,
        "payment_method": payment_method,
        "payment_method_details": (
            {"card": _charge_card(details), "type": "card"} if method_type == "card"
            else {method_type: _bank_details(details), "type": method_type}),
        "refunded": False,
        "source": None,
        "status": "failed",
    }
    if not is_basil_or_later(version):
        charge["invoice"] = invoice
    charge.update(overrides or {})
    return charge


def _bank_details(details: dict[str, Any]) -> dict[str, Any]:
    # A bank debit's block (us_bank_account, sepa_debit) names the account by its fingerprint.
    return {key: details[key] for key in ("country", "fingerprint", "last4")}


def _charge_card(details: dict[str, Any]) -> dict[str, Any]:
    # A charge's card block carries the network used, not the list a PaymentMethod offers.
    card = {k: v for k, v in details.items() if k not in ("networks", "three_d_secure_usage")}
    card.update(network=details["brand"], three_d_secure=None, installments=None)
    return card


def charge_failed_event(version: str = LATEST, **fields: Any) -> dict[str, Any]:
    """``charge.failed``: envelope keywords, then ``charge_object``'s."""
    return _build("charge.failed", version, charge_object, fields)


def payment_method_object(
    version: str = LATEST,
    *,
    payment_method_id: str = PAYMENT_METHOD_ID,
    customer: str | dict[str, Any] | None = CUSTOMER_ID,
    method_type: str = "card",
    overrides: dict[str, Any] | None = None,
    **card: Any,
) -> dict[str, Any]:
    """A PaymentMethod; ``card`` keywords as in ``card_details``. A ``method_type`` other than
    card (e.g. sepa_debit) gets no card block."""
    details = _pop_card(card)
    if card:
        raise TypeError(f"unexpected keywords: {sorted(card)}")
    method = {
        "id": payment_method_id,
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": {
            "address": None,
            "email": "jo@example.com",
            "name": "Jo Tester",
            "phone": None,
        },
        "created": CREATED - 86_400,
        "customer": customer,
        "livemode": False,
        "metadata": {},
        "type": method_type,
    }
    if method_type == "card":
        method["card"] = details
    else:
        method[method_type] = _bank_details(details)
    method.update(overrides or {})
    return method


def payment_method_event(
    event_type: str = "payment_method.attached", version: str = LATEST, **fields: Any
) -> dict[str, Any]:
    """``payment_method.attached`` / ``.automatically_updated`` / ``.updated`` / ``.detached``:
    envelope keywords, then ``payment_method_object``'s."""
    return _build(event_type, version, payment_method_object, fields)


def payment_intent_object(
    version: str = LATEST,
    *,
    payment_intent_id: str = PAYMENT_INTENT_ID,
    amount: int = 2500,
    currency: str = "usd",
    customer: str | dict[str, Any] | None = CUSTOMER_ID,
    invoice: str | dict[str, Any] | None = INVOICE_ID,
    charge: str | None = CHARGE_ID,
    code: str | None = "card_declined",
    decline_code: str | None = "insufficient_funds",
    advice_code: str | None = None,
    network_decline_code: str | None = "51",
    network_advice_code: str | None = None,
    message: str | None = "Your card has insufficient funds.",
    payment_method: str | dict[str, Any] | None = _AUTO,
    overrides: dict[str, Any] | None = None,
    **card: Any,
) -> dict[str, Any]:
    """A PaymentIntent whose last attempt failed. ``payment_method`` defaults to the expanded
    PaymentMethod (as webhooks send it) built from the ``card`` keywords; pass an id string to
    get the unexpanded form. ``invoice`` appears only before basil."""
    if payment_method is _AUTO:
        payment_method = payment_method_object(version, customer=customer, **card)
    elif card:
        raise TypeError(f"card keywords need the default payment_method: {sorted(card)}")
    error = {
        "type": "card_error",
        "code": code,
        "decline_code": decline_code,
        "advice_code": advice_code,
        "network_decline_code": network_decline_code,
        "network_advice_code": network_advice_code,
        "message": message,
        "charge": charge,
        "doc_url": f"https://docs.stripe.com/error-codes/{code}" if code else None,
        "payment_method": payment_method,
        "payment_method_type": "card",
    }
    intent = {
        "id": payment_intent_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_received": 0,
        "capture_method": "automatic",
        "created": CREATED - 3600,
        "currency": currency,
        "customer": customer,
        "last_payment_error": error,
        "latest_charge": charge,
        "livemode": False,
        "metadata": {},
        "payment_method": None,
        "status": "requires_payment_method",
    }
    if not is_basil_or_later(version):
        intent["invoice"] = invoice
        intent["payment_method_types"] = ["card"]
    intent.update(overrides or {})
    return intent


def payment_intent_failed_event(version: str = LATEST, **fields: Any) -> dict[str, Any]:
    """``payment_intent.payment_failed``: envelope keywords, then ``payment_intent_object``'s."""
    return _build("payment_intent.payment_failed", version, payment_intent_object, fields)


# --- customers, subscriptions, cards ---------------------------------------------------------


def customer_object(
    version: str = LATEST,
    *,
    customer_id: str = CUSTOMER_ID,
    default_payment_method: str | dict[str, Any] | None = PAYMENT_METHOD_ID,
    default_source: str | None = None,
    email: str = "jo@example.com",
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A Customer (2020-08-27 and later render no ``sources`` or ``subscriptions`` by default)."""
    customer = {
        "id": customer_id,
        "object": "customer",
        "balance": 0,
        "created": CREATED - 90 * 86_400,
        "currency": "usd",
        "default_source": default_source,
        "delinquent": True,
        "email": email,
        "invoice_prefix": "TEST",
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": default_payment_method,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": {},
        "name": "Jo Tester",
    }
    if not is_basil_or_later(version):
        customer["discount"] = None
    customer.update(overrides or {})
    return customer


def customer_updated_event(
    version: str = LATEST,
    *,
    previous_default_payment_method: str | None = "pm_TestCardOld000001",
    **fields: Any,
) -> dict[str, Any]:
    """``customer.updated`` whose invoice default changed from ``previous_default_payment_method``
    to ``default_payment_method``; pass ``previous_attributes`` to describe another change."""
    fields.setdefault(
        "previous_attributes",
        {"invoice_settings": {"default_payment_method": previous_default_payment_method}},
    )
    return _build("customer.updated", version, customer_object, fields)


def subscription_object(
    version: str = LATEST,
    *,
    subscription_id: str = SUBSCRIPTION_ID,
    customer: str | dict[str, Any] | None = CUSTOMER_ID,
    status: str = "canceled",
    cancellation_reason: str | None = "payment_failed",
    latest_invoice: str | None = INVOICE_ID,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A Subscription. ``cancellation_details`` is absent on 2020-08-27; the current period
    moved from the subscription to its items in basil."""
    period = {"current_period_start": CREATED - 30 * 86_400, "current_period_end": CREATED}
    item = {
        "id": "si_TestItem",
        "object": "subscription_item",
        "quantity": 1,
        "price": {"id": "price_TestPro", "object": "price", "unit_amount": 2500},
    }
    canceled = status == "canceled"
    subscription = {
        "id": subscription_id,
        "object": "subscription",
        "cancel_at_period_end": False,
        "canceled_at": CREATED if canceled else None,
        "collection_method": "charge_automatically",
        "created": CREATED - 90 * 86_400,
        "customer": customer,
        "default_payment_method": None,
        "ended_at": CREATED if canceled else None,
        "latest_invoice": latest_invoice,
        "livemode": False,
        "metadata": {},
        "status": status,
    }
    if is_basil_or_later(version):
        item.update(period)
    else:
        subscription.update(period)
    subscription["items"] = _list([item], f"/v1/subscription_items?subscription={subscription_id}")
    if version >= "2021":
        details = {"comment": None, "feedback": None, "reason": cancellation_reason}
        subscription["cancellation_details"] = details
    subscription.update(overrides or {})
    return subscription


def subscription_deleted_event(version: str = LATEST, **fields: Any) -> dict[str, Any]:
    """``customer.subscription.deleted``: envelope keywords, then ``subscription_object``'s."""
    return _build("customer.subscription.deleted", version, subscription_object, fields)


def card_object(
    version: str = LATEST,
    *,
    card_id: str = CARD_ID,
    customer: str | dict[str, Any] | None = CUSTOMER_ID,
    brand: str = "Visa",
    funding: str = "credit",
    country: str = "US",
    exp_month: int = 11,
    exp_year: int = 2026,
    fingerprint: str | None = FINGERPRINT,
    last4: str = "4242",
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A legacy Card (brands spelled for display: "Visa", "MasterCard", "American Express")."""
    card = {
        "id": card_id,
        "object": "card",
        "address_zip": None,
        "address_zip_check": None,
        "brand": brand,
        "country": country,
        "customer": customer,
        "cvc_check": "pass",
        "exp_month": exp_month,
        "exp_year": exp_year,
        "fingerprint": fingerprint,
        "funding": funding,
        "last4": last4,
        "metadata": {},
        "name": "Jo Tester",
        "tokenization_method": None,
    }
    card.update(overrides or {})
    return card


def source_expiring_event(version: str = LATEST, **fields: Any) -> dict[str, Any]:
    """``customer.source.expiring``: envelope keywords, then ``card_object``'s."""
    return _build("customer.source.expiring", version, card_object, fields)


# --- thin events -----------------------------------------------------------------------------


def thin_event(
    event_type: str = "v1.invoice.payment_failed",
    *,
    related_id: str | None = INVOICE_ID,
    related_type: str | None = "invoice",
    created: Timestamp = CREATED,
    event_id: str | None = None,
    livemode: bool = False,
    context: str | None = None,
) -> dict[str, Any]:
    """A thin (v2) event notification: a reference to an object, with no snapshot of it."""
    moment = created if isinstance(created, datetime) else datetime.fromtimestamp(created, UTC)
    event = {
        "id": event_id or new_id("evt"),
        "object": "v2.core.event",
        "type": event_type,
        "created": moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "livemode": livemode,
        "context": context,
        "related_object": None,
    }
    if related_id is not None:
        url = f"/v1/{related_type}s/{related_id}" if related_type else None
        event["related_object"] = {"id": related_id, "type": related_type, "url": url}
    return event
