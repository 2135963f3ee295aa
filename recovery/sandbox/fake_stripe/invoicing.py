"""Invoices in the fake Stripe: renewal invoices (with discounts and paused collection), the card
Stripe charges for them, and the invoice changes the engine asks for (``auto_advance``, void,
uncollectible). Charging itself is ``fake_stripe_charging``'s job.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from recovery.sandbox.fake_stripe import objects
from recovery.sandbox.fake_stripe.charging import STRIPE, Charging, Kind, Origin
from recovery.sandbox.fake_stripe.errors import invalid_request
from recovery.sandbox.fake_stripe.events import EventOutbox
from recovery.sandbox.fake_stripe.ledger import Ledger, unix
from recovery.sandbox.world.contract import Subscriber

# Stripe creates no invoice for a subscription that ended or is paused (status ``paused``).
_NOT_BILLED = frozenset({"canceled", "paused", "incomplete_expired"})


def form_bool(value: Any) -> bool:
    return value is True or value == "true"


def merged_metadata(current: dict[str, Any], update: Any) -> dict[str, Any]:
    """Stripe merges metadata keys; an empty value deletes a key, and ``""`` clears them all."""
    if not isinstance(update, dict):
        return {}
    merged = {**current, **update}
    return {key: value for key, value in merged.items() if value != ""}


class Invoicing:
    def __init__(self, ledger: Ledger, outbox: EventOutbox, charging: Charging) -> None:
        self._ledger = ledger
        self._outbox = outbox
        self._charging = charging

    def renew(self, subscriber: Subscriber, sub: dict[str, Any]) -> str | None:
        """Create and finalize the cycle invoice, then make Stripe's first automatic attempt.
        ``None`` when the subscription is not billed (canceled or paused)."""
        if sub["status"] in _NOT_BILLED:
            return None
        invoice = self._finalize_renewal(subscriber, sub)
        behavior = self._paused_behavior(sub)
        if behavior is not None:
            self._hold(invoice, behavior)
        elif invoice["amount_due"] == 0:
            self._charging.settle_without_charge(invoice)
        else:
            self._charging.attempt(invoice, self.card_on_file(invoice), kind=Kind.FIRST)
        return invoice["id"]

    def _finalize_renewal(self, subscriber: Subscriber, sub: dict[str, Any]) -> dict[str, Any]:
        ledger = self._ledger
        start = ledger.clock.now()
        period = (unix(start), unix(start + timedelta(days=subscriber.interval_days)))
        item = sub["items"]["data"][0]
        item.update(current_period_start=period[0], current_period_end=period[1])
        customer = ledger.get(sub["customer"], "customer")
        invoice_id = ledger.new_id("in", sub["id"])
        amount, applied = self._discounted(sub, item["price"]["unit_amount"])
        line = objects.invoice_line(ledger.new_id("il", invoice_id), invoice_id=invoice_id,
                                    sub=sub, amount=amount, period=period)
        number = f"{customer['invoice_prefix']}-{customer['next_invoice_sequence']:04d}"
        customer["next_invoice_sequence"] += 1
        hosted = f"https://invoice.stripe.com/i/{ledger.account_id}/test_{invoice_id[3:]}"
        invoice = ledger.add(objects.invoice(invoice_id, sub=sub, customer_obj=customer,
                                             line=line, discounts=applied, number=number,
                                             hosted_url=hosted, created=period[0]))
        sub["latest_invoice"] = invoice_id
        return invoice

    def _discounted(self, sub: dict[str, Any], amount: int) -> tuple[int, list[str]]:
        """The amount after the subscription's live discounts, and the discounts applied."""
        now, applied = self._ledger.now(), []
        for discount_id in list(sub["discounts"]):
            found = self._ledger.find(discount_id)
            if found is None or (found["end"] is not None and found["end"] <= now):
                continue
            coupon = self._ledger.get(found["source"]["coupon"], "coupon")
            if coupon["percent_off"]:
                amount -= round(amount * coupon["percent_off"] / 100)
            elif coupon["amount_off"]:
                amount -= coupon["amount_off"]
            applied.append(discount_id)
            if coupon["duration"] == "once":
                sub["discounts"].remove(discount_id)  # a one-time coupon is spent on this invoice
        return max(amount, 0), applied

    def _paused_behavior(self, sub: dict[str, Any]) -> str | None:
        pause = sub["pause_collection"]
        if not pause:
            return None
        resumes_at = pause.get("resumes_at")
        if resumes_at is not None and resumes_at <= self._ledger.now():
            sub["pause_collection"] = None  # Stripe resumes collection at resumes_at
            return None
        return pause["behavior"]

    def _hold(self, invoice: dict[str, Any], behavior: str) -> None:
        """What paused collection does to a new invoice: no attempt is made."""
        if behavior == "keep_as_draft":
            invoice.update(status="draft", auto_advance=False, number=None)
            invoice["status_transitions"]["finalized_at"] = None
        elif behavior == "void":
            self._close(invoice, "void", "voided_at", "invoice.voided", STRIPE)
        else:
            invoice["status_details"] = {"uncollectible": {"reason": "subscription_paused"}}
            self._close(invoice, "uncollectible", "marked_uncollectible_at",
                        "invoice.marked_uncollectible", STRIPE)

    def card_on_file(self, invoice: dict[str, Any]) -> dict[str, Any]:
        """The payment method Stripe charges: the subscription's default, else the customer's
        invoice-settings default (https://docs.stripe.com/billing/subscriptions/payment-methods-setting)."""
        sub_id = invoice["parent"]["subscription_details"]["subscription"]
        sub = self._ledger.find(sub_id) or {}
        customer = self._ledger.get(invoice["customer"], "customer")
        method_id = (sub.get("default_payment_method")
                     or customer["invoice_settings"]["default_payment_method"])
        if method_id is None:
            raise invalid_request(
                "This customer has no attached payment source or default payment method.")
        return self._ledger.get(method_id, "payment_method", param="payment_method")

    def update(self, invoice: dict[str, Any], params: dict[str, Any], origin: Origin) -> None:
        previous: dict[str, Any] = {}
        if "auto_advance" in params:
            self._set_auto_advance(invoice, form_bool(params["auto_advance"]), previous)
        if "metadata" in params:
            previous["metadata"] = invoice["metadata"]
            invoice["metadata"] = merged_metadata(invoice["metadata"], params["metadata"])
        if previous:
            self._outbox.emit("invoice.updated", invoice, previous=previous, request=origin)

    def _set_auto_advance(self, invoice: dict[str, Any], enabled: bool,
                          previous: dict[str, Any]) -> None:
        if enabled == invoice["auto_advance"]:
            return
        before = invoice["next_payment_attempt"]
        previous["auto_advance"] = invoice["auto_advance"]
        invoice["auto_advance"] = enabled
        # Turning it off hands collection to the caller: Stripe schedules no more retries.
        if enabled:
            self._charging.schedule(invoice)
        else:
            self._charging.unschedule(invoice)
        if invoice["next_payment_attempt"] != before:
            previous["next_payment_attempt"] = before

    def void(self, invoice: dict[str, Any], origin: Origin) -> None:
        if invoice["status"] not in ("open", "uncollectible"):
            raise invalid_request(
                f"You can only void an open or uncollectible invoice; this one is "
                f"{invoice['status']}.", code="invoice_not_open")
        self._close(invoice, "void", "voided_at", "invoice.voided", origin)

    def mark_uncollectible(self, invoice: dict[str, Any], origin: Origin) -> None:
        if invoice["status"] != "open":
            raise invalid_request(
                f"You can only mark an open invoice uncollectible; this one is "
                f"{invoice['status']}.", code="invoice_not_open")
        # Stripe's reason when the account itself marks it: it forgives the customer.
        invoice["status_details"] = {"uncollectible": {"reason": "user_forgiven"}}
        self._close(invoice, "uncollectible", "marked_uncollectible_at",
                    "invoice.marked_uncollectible", origin)

    def _close(self, invoice: dict[str, Any], status: str, stamp: str, event_type: str,
               origin: Origin) -> None:
        invoice["status"] = status
        invoice["status_transitions"][stamp] = self._ledger.now()
        self._charging.unschedule(invoice)
        if status == "void":
            self._charging.cancel_payment(invoice)
        self._outbox.emit(event_type, invoice, request=origin)

    def stop_collection(self, sub: dict[str, Any]) -> None:
        """On cancellation Stripe stops collecting the subscription's open invoices."""
        for invoice in self._ledger.of_customer(sub["customer"], "invoice"):
            owner = invoice["parent"]["subscription_details"]["subscription"]
            if owner == sub["id"] and invoice["status"] == "open":
                invoice["auto_advance"] = False
                self._charging.unschedule(invoice)
