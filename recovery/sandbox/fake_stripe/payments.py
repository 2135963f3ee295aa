"""JSON shapes of the fake Stripe's payments (endive): charges with their ``outcome``, payment
intents with ``last_payment_error``, invoice payments, and the card error a failed ``pay`` returns.

Builders only shape the data they are given, including the world's ``ChargeResult``; they keep no
state and decide nothing.
"""

from __future__ import annotations

import copy
from typing import Any

from recovery.sandbox.fake_stripe.errors import card_message, doc_url
from recovery.sandbox.world.contract import ChargeResult

# Stripe itself refuses cards an issuer already declined for good, without asking the network.
_BLOCKED_CODES = frozenset({"previously_declined_do_not_retry"})
AUTHENTICATION = "authentication_required"


def needs_authentication(result: ChargeResult) -> bool:
    return AUTHENTICATION in (result.failure_code, result.decline_code)


def outcome(result: ChargeResult) -> dict[str, Any]:
    if result.paid:
        return {
            "advice_code": None, "network_advice_code": None, "network_decline_code": None,
            "network_status": "approved_by_network", "reason": None, "risk_level": "normal",
            "risk_score": 20, "seller_message": "Payment complete.", "type": "authorized",
        }
    blocked = result.decline_code in _BLOCKED_CODES
    return {
        "advice_code": result.advice_code,
        "network_advice_code": result.network_advice_code,
        "network_decline_code": result.network_decline_code,
        "network_status": "not_sent_to_network" if blocked else "declined_by_network",
        # For issuer declines the reason is the decline code (processing errors have none).
        "reason": result.decline_code or result.failure_code,
        "risk_level": "normal", "risk_score": 20,
        "seller_message": (
            "Stripe blocked this payment." if blocked else "The bank did not return any further "
            "details with this decline."
        ),
        "type": "blocked" if blocked else "issuer_declined",
    }


def charge_card(method: dict[str, Any], *, amount: int, paid: bool) -> dict[str, Any]:
    """``payment_method_details.card`` of a charge, from the PaymentMethod that was charged."""
    card = method["card"]
    return {
        "amount_authorized": amount if paid else None, "authorization_code": None,
        "brand": card["brand"], "checks": dict(card["checks"]), "country": card["country"],
        "exp_month": card["exp_month"], "exp_year": card["exp_year"],
        "extended_authorization": {"status": "disabled"}, "fingerprint": card["fingerprint"],
        "funding": card["funding"], "incremental_authorization": {"status": "unavailable"},
        "installments": None, "last4": card["last4"], "mandate": None,
        "multicapture": {"status": "unavailable"}, "network": card["brand"],
        "network_token": {"used": False}, "network_transaction_id": None,
        "overcapture": {"maximum_amount_capturable": amount, "status": "unavailable"},
        "regulated_status": card["regulated_status"], "three_d_secure": None, "wallet": None,
    }


def charge(charge_id: str, *, invoice: dict[str, Any], method: dict[str, Any],
           intent_id: str, result: ChargeResult, created: int) -> dict[str, Any]:
    """A charge on ``invoice`` (endive: the charge names no invoice, only its payment intent)."""
    amount, paid = invoice["amount_due"], result.paid
    return {
        "id": charge_id, "object": "charge", "amount": amount,
        "amount_captured": amount if paid else 0, "amount_refunded": 0, "application": None,
        "application_fee": None, "application_fee_amount": None,
        "balance_transaction": f"txn_{charge_id[3:]}" if paid else None,
        "billing_details": dict(method["billing_details"]),
        "calculated_statement_descriptor": "SANDBOX", "captured": paid, "created": created,
        "currency": invoice["currency"], "customer": invoice["customer"],
        "description": "Subscription update", "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": None if paid else result.failure_code or "card_declined",
        "failure_message": None if paid else card_message(result.failure_code,
                                                           result.decline_code),
        "fraud_details": {}, "livemode": False, "metadata": {}, "on_behalf_of": None,
        "outcome": outcome(result), "paid": paid, "payment_intent": intent_id,
        "payment_method": method["id"],
        "payment_method_details": {"card": charge_card(method, amount=amount, paid=paid),
                                   "type": "card"},
        "receipt_email": None, "receipt_number": None,
        "receipt_url": f"https://pay.stripe.com/receipts/{charge_id}",
        "refunded": False,
        "refunds": {"object": "list", "data": [], "has_more": False,
                    "url": f"/v1/charges/{charge_id}/refunds"},
        "review": None, "shipping": None, "source": None, "source_transfer": None,
        "statement_descriptor": None, "statement_descriptor_suffix": None,
        "status": "succeeded" if paid else "failed", "transfer_data": None,
        "transfer_group": None,
    }


def payment_error(result: ChargeResult, *, charge_id: str,
                  method: dict[str, Any]) -> dict[str, Any]:
    """The card error of a failed attempt, as ``last_payment_error`` and in a 402 body."""
    code = result.failure_code or "card_declined"
    return {
        "type": "card_error", "code": code, "decline_code": result.decline_code,
        "advice_code": result.advice_code,
        "network_decline_code": result.network_decline_code,
        "network_advice_code": result.network_advice_code,
        "message": card_message(result.failure_code, result.decline_code),
        "charge": charge_id, "doc_url": doc_url(code), "payment_method": method,
        "payment_method_type": "card",
    }


def payment_intent(intent_id: str, *, invoice: dict[str, Any], method_id: str,
                   created: int) -> dict[str, Any]:
    """The invoice's payment intent before any attempt; every attempt reuses it."""
    return {
        "id": intent_id, "object": "payment_intent", "amount": invoice["amount_due"],
        "amount_capturable": 0, "amount_details": {"tip": {}}, "amount_received": 0,
        "application": None, "application_fee_amount": None,
        "automatic_payment_methods": None, "canceled_at": None, "cancellation_reason": None,
        "capture_method": "automatic", "client_secret": f"{intent_id}_secret_sandbox",
        "confirmation_method": "automatic", "created": created,
        "currency": invoice["currency"], "customer": invoice["customer"],
        "customer_account": None, "description": "Subscription update",
        "excluded_payment_method_types": None, "last_payment_error": None,
        "latest_charge": None, "livemode": False, "metadata": {}, "next_action": None,
        "on_behalf_of": None, "payment_method": method_id,
        "payment_method_configuration_details": None,
        "payment_method_options": {"card": {"request_three_d_secure": "automatic"}},
        "payment_method_types": ["card"], "processing": None, "receipt_email": None,
        "review": None, "setup_future_usage": "off_session", "shipping": None, "source": None,
        "statement_descriptor": None, "statement_descriptor_suffix": None,
        "status": "requires_payment_method", "transfer_data": None, "transfer_group": None,
    }


def record_attempt(intent: dict[str, Any], *, charge_obj: dict[str, Any],
                   result: ChargeResult, method: dict[str, Any]) -> None:
    """Move the payment intent to the state an attempt left it in."""
    intent["latest_charge"] = charge_obj["id"]
    intent["payment_method"] = method["id"]
    if result.paid:
        intent.update(status="succeeded", last_payment_error=None, next_action=None,
                      amount_received=intent["amount"])
        return
    # The error embeds the payment method as it was then: a copy, taken only when it fails.
    intent["last_payment_error"] = payment_error(result, charge_id=charge_obj["id"],
                                                 method=copy.deepcopy(method))
    if needs_authentication(result):
        # The customer must authenticate on-session (3-D Secure) before it can succeed.
        intent.update(status="requires_action",
                      next_action={"type": "use_stripe_sdk", "use_stripe_sdk": {}})
    else:
        intent.update(status="requires_payment_method", next_action=None)


def invoice_payment(payment_id: str, *, invoice: dict[str, Any], intent_id: str,
                    created: int) -> dict[str, Any]:
    return {
        "id": payment_id, "object": "invoice_payment", "amount_paid": None,
        "amount_requested": invoice["amount_due"], "created": created,
        "currency": invoice["currency"], "invoice": invoice["id"], "is_default": True,
        "livemode": False,
        "payment": {"type": "payment_intent", "payment_intent": intent_id},
        "status": "open", "status_transitions": {"canceled_at": None, "paid_at": None},
    }
