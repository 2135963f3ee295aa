"""JSON shapes of the fake Stripe's billing objects, as API version 2026-10-28.endive renders them:
customers, card payment methods, subscriptions, invoices, coupons, discounts and sessions.

Builders only shape data they are given; they keep no state and decide nothing. Payments
(charges, payment intents, invoice payments) are shaped in ``fake_stripe_payments``.
"""

from __future__ import annotations

from typing import Any

from recovery.sandbox.world.contract import Card

PRODUCT_ID = "prod_sandbox"
_NULL_ADDRESS = {
    "city": None, "country": None, "line1": None, "line2": None, "postal_code": None,
    "state": None,
}


def customer(customer_id: str, *, email: str, created: int, currency: str,
             payment_method_id: str | None, invoice_prefix: str) -> dict[str, Any]:
    return {
        "id": customer_id, "object": "customer", "address": None, "balance": 0,
        "created": created, "currency": currency, "default_source": None, "delinquent": False,
        "description": None, "discount": None, "email": email, "invoice_prefix": invoice_prefix,
        "invoice_settings": {
            "custom_fields": None, "default_payment_method": payment_method_id, "footer": None,
            "rendering_options": None,
        },
        "livemode": False, "metadata": {}, "name": None, "next_invoice_sequence": 1,
        "phone": None, "preferred_locales": [], "shipping": None, "tax_exempt": "none",
        "test_clock": None,
    }


def card_details(card: Card) -> dict[str, Any]:
    """The ``card`` hash of a PaymentMethod."""
    return {
        "brand": card.brand,
        "checks": {"address_line1_check": None, "address_postal_code_check": None,
                   "cvc_check": None},
        "country": card.country, "display_brand": card.brand, "exp_month": card.exp_month,
        "exp_year": card.exp_year, "fingerprint": card.fingerprint, "funding": card.funding,
        "generated_from": None, "last4": card.last4,
        "networks": {"available": [card.brand], "preferred": None},
        "regulated_status": "unregulated", "three_d_secure_usage": {"supported": True},
        "wallet": None,
    }


def payment_method(payment_method_id: str, *, card: Card, customer_id: str | None,
                   email: str | None, created: int) -> dict[str, Any]:
    return {
        "id": payment_method_id, "object": "payment_method", "allow_redisplay": "unspecified",
        "billing_details": {"address": dict(_NULL_ADDRESS), "email": email, "name": None,
                            "phone": None, "tax_id": None},
        "card": card_details(card), "created": created, "customer": customer_id,
        "customer_account": None, "livemode": False, "metadata": {}, "type": "card",
    }


def _recurring(interval_days: int) -> dict[str, Any]:
    # A 30-day or 365-day period reads as Stripe's month or year; anything else as days.
    interval, count = {30: ("month", 1), 365: ("year", 1)}.get(
        interval_days, ("day", interval_days))
    return {"interval": interval, "interval_count": count, "meter": None,
            "trial_period_days": None, "usage_type": "licensed"}


def price(price_id: str, *, amount: int, currency: str, interval_days: int,
          created: int) -> dict[str, Any]:
    return {
        "id": price_id, "object": "price", "active": True, "billing_scheme": "per_unit",
        "created": created, "currency": currency, "custom_unit_amount": None,
        "livemode": False, "lookup_key": None, "metadata": {}, "nickname": None,
        "product": PRODUCT_ID, "recurring": _recurring(interval_days),
        "tax_behavior": "unspecified", "tiers_mode": None, "transform_quantity": None,
        "type": "recurring", "unit_amount": amount, "unit_amount_decimal": str(amount),
    }


def subscription(subscription_id: str, *, customer_id: str, payment_method_id: str,
                 item_id: str, price_obj: dict[str, Any], created: int, period_start: int,
                 period_end: int) -> dict[str, Any]:
    item = {
        "id": item_id, "object": "subscription_item", "billing_thresholds": None,
        "created": created, "current_period_end": period_end,
        "current_period_start": period_start, "discounts": [], "metadata": {},
        "price": price_obj, "quantity": 1, "subscription": subscription_id, "tax_rates": [],
    }
    return {
        "id": subscription_id, "object": "subscription", "application": None,
        "application_fee_percent": None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "billing_cycle_anchor": period_start, "billing_cycle_anchor_config": None,
        "billing_mode": {"type": "classic"}, "billing_thresholds": None, "cancel_at": None,
        "cancel_at_period_end": False, "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": "charge_automatically", "created": created,
        "currency": price_obj["currency"], "customer": customer_id, "customer_account": None,
        "days_until_due": None, "default_payment_method": payment_method_id,
        "default_source": None, "default_tax_rates": [], "description": None, "discounts": [],
        "ended_at": None,
        "items": {"object": "list", "data": [item], "has_more": False,
                  "url": f"/v1/subscription_items?subscription={subscription_id}"},
        "latest_invoice": None, "livemode": False, "metadata": {}, "on_behalf_of": None,
        "pause_collection": None, "pending_setup_intent": None, "pending_update": None,
        "schedule": None, "start_date": created, "status": "active", "test_clock": None,
        "transfer_data": None, "trial_end": None, "trial_start": None,
    }


def invoice_line(line_id: str, *, invoice_id: str, sub: dict[str, Any], amount: int,
                 period: tuple[int, int]) -> dict[str, Any]:
    item = sub["items"]["data"][0]
    unit = item["price"]["unit_amount"]
    return {
        "id": line_id, "object": "line_item", "amount": amount, "currency": sub["currency"],
        "description": "1 × Sandbox plan", "discount_amounts": [], "discountable": True,
        "discounts": [], "invoice": invoice_id, "livemode": False, "metadata": {},
        "parent": {
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None, "proration": False, "proration_details": None,
                "subscription": sub["id"], "subscription_item": item["id"],
            },
            "type": "subscription_item_details",
        },
        "period": {"end": period[1], "start": period[0]}, "pretax_credit_amounts": [],
        "pricing": {"price_details": {"price": item["price"]["id"], "product": PRODUCT_ID},
                    "type": "price_details", "unit_amount_decimal": str(unit)},
        "quantity": 1, "subtotal": unit, "taxes": [],
    }


def invoice(invoice_id: str, *, sub: dict[str, Any], customer_obj: dict[str, Any],
            line: dict[str, Any], discounts: list[str], number: str, hosted_url: str,
            created: int) -> dict[str, Any]:
    """A finalized (``open``) subscription-cycle invoice that nobody has tried to pay yet.

    Since basil an invoice has no ``charge``, ``payment_intent``, ``paid`` or ``subscription``:
    its subscription sits under ``parent.subscription_details``.
    """
    amount, subtotal = line["amount"], line["subtotal"]
    return {
        "id": invoice_id, "object": "invoice", "account_country": "US",
        "account_name": "Sandbox", "account_tax_ids": None, "amount_due": amount,
        "amount_overpaid": 0, "amount_paid": 0, "amount_remaining": amount,
        "amount_shipping": 0, "application": None, "attempt_count": 0, "attempted": False,
        "auto_advance": True,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None,
                          "provider": None, "status": None},
        "automatically_finalizes_at": None, "billing_reason": "subscription_cycle",
        "collection_method": "charge_automatically", "confirmation_secret": None,
        "created": created, "currency": sub["currency"], "custom_fields": None,
        "customer": customer_obj["id"], "customer_account": None, "customer_address": None,
        "customer_email": customer_obj["email"], "customer_name": customer_obj["name"],
        "customer_phone": None, "customer_shipping": None, "customer_tax_exempt": "none",
        "customer_tax_ids": [], "default_payment_method": None, "default_source": None,
        "default_tax_rates": [], "description": None, "discounts": list(discounts),
        "due_date": None, "effective_at": created, "ending_balance": 0, "footer": None,
        "from_invoice": None, "hosted_invoice_url": hosted_url,
        "invoice_pdf": f"{hosted_url}/pdf", "issuer": {"type": "self"},
        "last_finalization_error": None, "latest_revision": None,
        "lines": {"object": "list", "data": [line], "has_more": False,
                  "url": f"/v1/invoices/{invoice_id}/lines"},
        "livemode": False, "metadata": {}, "next_payment_attempt": None, "number": number,
        "on_behalf_of": None,
        "parent": {"quote_details": None, "type": "subscription_details",
                   "subscription_details": {"metadata": {}, "subscription": sub["id"]}},
        "payment_settings": {"default_mandate": None, "payment_method_options": None,
                             "payment_method_types": None},
        # A cycle invoice's own period is the (empty) usage period that just ended, so Stripe
        # gives both ends the renewal time; the line carries the period being paid for.
        "period_end": line["period"]["start"], "period_start": line["period"]["start"],
        "post_payment_credit_notes_amount": 0, "pre_payment_credit_notes_amount": 0,
        "receipt_number": None, "rendering": None, "shipping_cost": None,
        "shipping_details": None, "starting_balance": 0, "statement_descriptor": None,
        "status": "open", "status_details": {"uncollectible": None},
        "status_transitions": {"finalized_at": created, "marked_uncollectible_at": None,
                               "paid_at": None, "voided_at": None},
        "subtotal": subtotal, "subtotal_excluding_tax": subtotal, "test_clock": None,
        "total": amount, "total_discount_amounts": _discounted(subtotal, amount),
        "total_excluding_tax": amount, "total_pretax_credit_amounts": [], "total_taxes": [],
        "webhooks_delivered_at": created,
    }


def _discounted(subtotal: int, amount: int) -> list[dict[str, Any]]:
    return [{"amount": subtotal - amount, "discount": None}] if subtotal > amount else []


def coupon(coupon_id: str, *, params: dict[str, Any], created: int) -> dict[str, Any]:
    return {
        "id": coupon_id, "object": "coupon", "amount_off": _int(params.get("amount_off")),
        "created": created, "currency": params.get("currency"),
        "duration": params.get("duration") or "once",
        "duration_in_months": _int(params.get("duration_in_months")), "livemode": False,
        "max_redemptions": _int(params.get("max_redemptions")), "metadata": {},
        "name": params.get("name"), "percent_off": _float(params.get("percent_off")),
        "redeem_by": None, "times_redeemed": 0, "valid": True,
    }


def _int(value: Any) -> int | None:
    return None if value in (None, "") else int(float(value))


def _float(value: Any) -> float | None:
    return None if value in (None, "") else float(value)


def discount(discount_id: str, *, coupon_id: str, customer_id: str, subscription_id: str,
             start: int, end: int | None) -> dict[str, Any]:
    return {
        "id": discount_id, "object": "discount", "checkout_session": None,
        "customer": customer_id, "customer_account": None, "end": end, "invoice": None,
        "invoice_item": None, "promotion_code": None,
        "source": {"coupon": coupon_id, "type": "coupon"}, "start": start,
        "subscription": subscription_id, "subscription_item": None,
    }


def portal_session(session_id: str, *, params: dict[str, Any], configuration: str,
                   created: int) -> dict[str, Any]:
    return {
        "id": session_id, "object": "billing_portal.session", "configuration": configuration,
        "created": created, "customer": params.get("customer"), "customer_account": None,
        "flow": _flow(params.get("flow_data")), "livemode": False,
        "locale": params.get("locale"), "on_behalf_of": None,
        "return_url": params.get("return_url"),
        "url": f"https://billing.stripe.com/p/session/test_{session_id.split('_', 1)[1]}",
    }


def _flow(flow_data: Any) -> dict[str, Any] | None:
    if not isinstance(flow_data, dict):
        return None
    after = flow_data.get("after_completion") or {"type": "portal_homepage"}
    flow = {kind: None for kind in ("subscription_cancel", "subscription_update",
                                     "subscription_update_confirm")}
    flow["type"] = flow_data.get("type")
    flow["after_completion"] = {
        "type": after.get("type"), "redirect": after.get("redirect"),
        "hosted_confirmation": after.get("hosted_confirmation"),
    }
    return flow


def checkout_session(session_id: str, *, params: dict[str, Any], setup_intent_id: str | None,
                     created: int) -> dict[str, Any]:
    return {
        "id": session_id, "object": "checkout.session", "cancel_url": params.get("cancel_url"),
        "client_reference_id": params.get("client_reference_id"), "created": created,
        "currency": params.get("currency"), "customer": params.get("customer"),
        "customer_email": params.get("customer_email"), "expires_at": created + 86400,
        "livemode": False, "metadata": params.get("metadata") or {},
        "mode": params.get("mode") or "payment", "payment_intent": None,
        "payment_status": "no_payment_required" if setup_intent_id else "unpaid",
        "setup_intent": setup_intent_id, "status": "open",
        "success_url": params.get("success_url"), "subscription": None,
        "ui_mode": params.get("ui_mode") or "hosted_page",
        "url": f"https://checkout.stripe.com/c/pay/{session_id}",
    }
