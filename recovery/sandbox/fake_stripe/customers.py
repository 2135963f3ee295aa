"""Customers, card payment methods and subscriptions in the fake Stripe: signing subscribers up,
card changes (by the customer or the network's card updater), and subscription updates, pauses
and cancellations, with the events Stripe sends for each. Invoices are not touched here except
that a cancellation stops their collection.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from recovery.sandbox.fake_stripe import objects
from recovery.sandbox.fake_stripe.charging import STRIPE, Origin
from recovery.sandbox.fake_stripe.errors import invalid_request
from recovery.sandbox.fake_stripe.events import EventOutbox
from recovery.sandbox.fake_stripe.invoicing import Invoicing, form_bool, merged_metadata
from recovery.sandbox.fake_stripe.ledger import Ledger, unix
from recovery.sandbox.world.contract import Card, Subscriber

PAUSE_BEHAVIORS = frozenset({"keep_as_draft", "mark_uncollectible", "void"})
# Stripe counts a repeating coupon in calendar months; thirty days is close enough here.
COUPON_MONTH = timedelta(days=30)
_CARD_FIELDS = ("brand", "funding", "country", "exp_month", "exp_year", "last4", "fingerprint")


@dataclass(frozen=True)
class SubscriberIds:
    customer_id: str
    subscription_id: str
    payment_method_id: str


class Customers:
    def __init__(self, ledger: Ledger, outbox: EventOutbox, invoicing: Invoicing) -> None:
        self._ledger = ledger
        self._outbox = outbox
        self._invoicing = invoicing

    def add_subscriber(self, subscriber: Subscriber) -> SubscriberIds:
        """Customer, card and active subscription, as they stood before the simulated period:
        created at signup, with the current period ending at the first renewal."""
        ledger, created = self._ledger, unix(subscriber.created_at)
        customer_id = ledger.new_id("cus", subscriber.id)
        method_id = ledger.new_id("pm", subscriber.id)
        ledger.add(objects.customer(
            customer_id, email=subscriber.email, created=created, currency=subscriber.currency,
            payment_method_id=method_id, invoice_prefix=customer_id[4:12].upper()))
        ledger.add(objects.payment_method(method_id, card=subscriber.card,
                                          customer_id=customer_id, email=subscriber.email,
                                          created=created))
        sub_id = ledger.new_id("sub", subscriber.id)
        first = subscriber.first_renewal_at
        price = objects.price(ledger.new_id("price", subscriber.id), amount=subscriber.amount,
                              currency=subscriber.currency,
                              interval_days=subscriber.interval_days, created=created)
        ledger.add(objects.subscription(
            sub_id, customer_id=customer_id, payment_method_id=method_id,
            item_id=ledger.new_id("si", sub_id), price_obj=price, created=created,
            period_start=unix(first - timedelta(days=subscriber.interval_days)),
            period_end=unix(first)))
        return SubscriberIds(customer_id, sub_id, method_id)

    # --- cards ------------------------------------------------------------------------------

    def update_card_in_place(self, method: dict[str, Any], card: Card) -> None:
        """The network's card updater gave the card on file new details (the same
        PaymentMethod id); Stripe reports it as ``payment_method.automatically_updated``."""
        details = method["card"]
        previous = {f: details[f] for f in _CARD_FIELDS if details[f] != getattr(card, f)}
        details.update({f: getattr(card, f) for f in _CARD_FIELDS}, display_brand=card.brand)
        details["networks"] = {"available": [card.brand], "preferred": None}
        self._outbox.emit("payment_method.automatically_updated", method,
                          previous={"card": previous})

    def attach_new_card(self, customer: dict[str, Any], sub: dict[str, Any] | None,
                        card: Card, scope: str) -> str:
        """The customer added a card: attach it and make it the default everywhere."""
        method = self._ledger.add(objects.payment_method(
            self._ledger.new_id("pm", scope), card=card, customer_id=customer["id"],
            email=customer["email"], created=self._ledger.now()))
        self._outbox.emit("payment_method.attached", method)
        self.set_customer_default(customer, method["id"], STRIPE)
        if sub is not None:
            self.update_subscription(sub, {"default_payment_method": method["id"]}, STRIPE)
        return method["id"]

    def set_customer_default(self, customer: dict[str, Any], method_id: str,
                             origin: Origin) -> None:
        self.update_customer(customer, {"invoice_settings": {"default_payment_method": method_id}},
                             origin)

    def _attached(self, customer_id: str, method_id: str, param: str) -> str:
        method = self._ledger.get(method_id, "payment_method", param=param)
        if method["customer"] != customer_id:
            raise invalid_request(
                f"The customer does not have a payment method with the ID {method_id}. The "
                "payment method must be attached to the customer.", param=param)
        return method_id

    # --- updates ----------------------------------------------------------------------------

    def update_customer(self, customer: dict[str, Any], params: dict[str, Any],
                        origin: Origin) -> None:
        previous: dict[str, Any] = {}
        settings = params.get("invoice_settings")
        if isinstance(settings, dict) and "default_payment_method" in settings:
            wanted = settings["default_payment_method"] or None
            if wanted is not None:
                self._attached(customer["id"], wanted, "invoice_settings[default_payment_method]")
            current = customer["invoice_settings"]["default_payment_method"]
            if wanted != current:
                previous["invoice_settings"] = {"default_payment_method": current}
                customer["invoice_settings"]["default_payment_method"] = wanted
        for field in ("email", "name", "description"):
            if field in params and params[field] != customer[field]:
                previous[field] = customer[field]
                customer[field] = params[field] or None
        if "metadata" in params:
            previous["metadata"] = customer["metadata"]
            customer["metadata"] = merged_metadata(customer["metadata"], params["metadata"])
        if previous:
            self._outbox.emit("customer.updated", customer, previous=previous, request=origin)

    def update_subscription(self, sub: dict[str, Any], params: dict[str, Any],
                            origin: Origin) -> None:
        if sub["status"] == "canceled":
            raise invalid_request("A canceled subscription can only update its "
                                  "cancellation_details and metadata.")
        previous: dict[str, Any] = {}
        if "default_payment_method" in params:
            wanted = params["default_payment_method"] or None
            if wanted is not None:
                self._attached(sub["customer"], wanted, "default_payment_method")
            self._change(sub, "default_payment_method", wanted, previous)
        if "pause_collection" in params:
            self._change(sub, "pause_collection", _pause(params["pause_collection"]), previous)
        if "discounts" in params:
            self._change(sub, "discounts", self._discounts(sub, params["discounts"]), previous)
        if "cancel_at_period_end" in params:
            flag = form_bool(params["cancel_at_period_end"])
            self._change(sub, "cancel_at_period_end", flag, previous)
        if "metadata" in params:
            merged = merged_metadata(sub["metadata"], params["metadata"])
            self._change(sub, "metadata", merged, previous)
        if previous:
            self._outbox.emit("customer.subscription.updated", sub, previous=previous,
                              request=origin)

    @staticmethod
    def _change(sub: dict[str, Any], field: str, value: Any, previous: dict[str, Any]) -> None:
        if sub[field] != value:
            previous[field] = sub[field]
            sub[field] = value

    def _discounts(self, sub: dict[str, Any], wanted: Any) -> list[str]:
        """``discounts`` replaces the subscription's list; each coupon becomes a discount."""
        if not isinstance(wanted, list):
            return []
        now, made = self._ledger.now(), []
        for entry in wanted:
            coupon_id = entry.get("coupon") if isinstance(entry, dict) else None
            if not coupon_id:
                raise invalid_request("Each discount needs a coupon.", param="discounts")
            coupon = self._ledger.get(coupon_id, "coupon", param="discounts[0][coupon]")
            months = coupon["duration_in_months"] if coupon["duration"] == "repeating" else None
            end = now + int((COUPON_MONTH * months).total_seconds()) if months else None
            made.append(self._ledger.add(objects.discount(
                self._ledger.new_id("di", sub["id"]), coupon_id=coupon_id,
                customer_id=sub["customer"], subscription_id=sub["id"], start=now,
                end=end))["id"])
            coupon["times_redeemed"] += 1
        return made

    def cancel_subscription(self, sub: dict[str, Any], *, reason: str, origin: Origin,
                            details: dict[str, Any] | None = None) -> None:
        if sub["status"] == "canceled":
            raise invalid_request("This subscription has already been canceled.")
        now = self._ledger.now()
        details = details if isinstance(details, dict) else {}
        sub.update(status="canceled", canceled_at=now, ended_at=now)
        sub["cancellation_details"] = {"comment": details.get("comment") or None,
                                       "feedback": details.get("feedback") or None,
                                       "reason": reason}
        self._invoicing.stop_collection(sub)
        self._outbox.emit("customer.subscription.deleted", sub, request=origin)

    def pause_subscription(self, sub: dict[str, Any], origin: Origin) -> None:
        """``POST /v1/subscriptions/{id}/pause``: status ``paused``, no invoices until resumed
        (unlike ``pause_collection``, which keeps the subscription active)."""
        if sub["status"] in ("canceled", "paused"):
            raise invalid_request(f"A {sub['status']} subscription cannot be paused.")
        before = sub["status"]
        sub["status"] = "paused"
        self._outbox.emit("customer.subscription.paused", sub, previous={"status": before},
                          request=origin)


def _pause(value: Any) -> dict[str, Any] | None:
    """``pause_collection``; Stripe clears it when sent the empty string."""
    if not isinstance(value, dict):
        return None
    behavior = value.get("behavior")
    if behavior not in PAUSE_BEHAVIORS:
        raise invalid_request(f"Invalid pause_collection[behavior]: {behavior!r}",
                              param="pause_collection[behavior]")
    resumes_at = value.get("resumes_at")
    return {"behavior": behavior, "resumes_at": int(resumes_at) if resumes_at else None}
