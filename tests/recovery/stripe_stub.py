"""A small stateful Stripe stand-in for engine tests, served through respx at the HTTP edge.

It answers the gateway's calls in Stripe's shapes (built with ``tests/webhooks/payloads``) and
records every ``pay`` call with its idempotency key and the card it charged: the payment method
the call names, else (as Stripe does) the subscription's default, else the customer's.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import httpx
import respx

from tests.webhooks import payloads as p

BASE = "https://api.stripe.com"


@dataclass
class Decline:
    decline_code: str | None = "insufficient_funds"
    failure_code: str = "card_declined"
    network_decline_code: str | None = "51"
    network_advice_code: str | None = None
    advice_code: str | None = None


@dataclass
class StripeStub:
    invoice_id: str = p.INVOICE_ID
    status: str = "open"
    first_decline: Decline = field(default_factory=Decline)
    fingerprint: str | None = p.FINGERPRINT
    brand: str = "visa"
    method_type: str = "card"  # or a bank debit: us_bank_account, sepa_debit
    pay_results: deque = field(default_factory=deque)  # Decline, "paid" or "processing"
    pay_keys: list[str] = field(default_factory=list)
    charges: int = 0
    cards: dict[str, tuple[str, str]] = field(default_factory=dict)  # pm id -> (fingerprint, brand)
    calls: list[str] = field(default_factory=list)
    outage: tuple[int, dict] | None = None  # (status, error) answered to every call while set
    customer_default: str | None = p.PAYMENT_METHOD_ID  # invoice_settings.default_payment_method
    subscription_default: str | None = None  # the subscription's default_payment_method
    pay_methods: list[str | None] = field(default_factory=list)  # each pay's payment_method
    charged: list[str | None] = field(default_factory=list)  # fingerprint of each card charged
    # Answers to pay calls before any charge: (status, error), used first while queued. Like
    # Stripe, a 5xx is stored under the request's idempotency key and replayed for that key.
    pay_errors: deque = field(default_factory=deque)
    update_errors: deque = field(default_factory=deque)  # the same, for invoice updates
    stored: dict[str, tuple[int, dict]] = field(default_factory=dict)
    # Called at the start of a request (by name: "pay", "update"), to act while it is in flight.
    hooks: dict[str, Callable[[], None]] = field(default_factory=dict)
    # Other invoices than ``invoice_id``: their first attempt's decline (each has its own charge
    # ``ch_<invoice>`` on its own card ``fp_<invoice>``).
    declines: dict[str, Decline] = field(default_factory=dict)
    subscription_status: str = "past_due"  # what a retry's re-read of the subscription finds
    card_country: str | None = "US"  # where the failed charges' card was issued
    # The charge the invoice's payments name as its newest attempt (default: the first decline's
    # ``p.CHARGE_ID``), e.g. a decline a pay call made before its answer was lost.
    latest_charge_id: str | None = None
    coupons: dict[str, dict] = field(default_factory=dict)  # idempotency key -> coupon made
    subscription_updates: list[dict] = field(default_factory=list)  # each update's form
    # Answers to coupon creations and subscription updates before they succeed, as pay_errors.
    offer_errors: deque = field(default_factory=deque)
    # Answers to subscription cancels: (status, error, after), where ``after`` says the cancel
    # was made before the answer was lost.
    cancel_errors: deque = field(default_factory=deque)

    def install(self, router: respx.MockRouter) -> None:
        router.route(host="api.stripe.com").mock(side_effect=self._outage)
        router.get(url__regex=rf"{BASE}/v1/invoices/(?P<inv>in_\w+)$").mock(side_effect=self._invoice)
        router.post(url__regex=rf"{BASE}/v1/invoices/(?P<inv>in_\w+)$").mock(side_effect=self._update)
        router.post(url__regex=rf"{BASE}/v1/invoices/(?P<inv>in_\w+)/pay$").mock(side_effect=self._pay)
        router.post(url__regex=rf"{BASE}/v1/invoices/(?P<inv>in_\w+)/mark_uncollectible$").mock(
            side_effect=self._uncollectible)
        router.get(f"{BASE}/v1/invoice_payments").mock(side_effect=self._payments)
        router.get(f"{BASE}/v1/charges").mock(side_effect=self._charges)
        router.get(url__regex=rf"{BASE}/v1/payment_methods/(?P<pm>pm_\w+)$").mock(
            side_effect=self._payment_method)
        router.get(url__regex=rf"{BASE}/v1/subscriptions/(?P<sub>sub_\w+)$").mock(
            side_effect=self._subscription)
        router.delete(url__regex=rf"{BASE}/v1/subscriptions/(?P<sub>sub_\w+)(\?.*)?$").mock(
            side_effect=self._cancel)
        router.post(url__regex=rf"{BASE}/v1/subscriptions/(?P<sub>sub_\w+)$").mock(
            side_effect=self._update_subscription)
        router.post(f"{BASE}/v1/coupons").mock(side_effect=self._coupon)
        router.post(f"{BASE}/v1/billing_portal/sessions").mock(side_effect=self._portal)
        router.get(url__regex=rf"{BASE}/v1/customers/(?P<cus>cus_\w+)(\?.*)?$").mock(
            side_effect=self._customer)
        router.post(url__regex=rf"{BASE}/v1/customers/(?P<cus>cus_\w+)$").mock(
            side_effect=self._update_customer)

    def _outage(self, request):
        # Falls through to the real routes unless an outage is being simulated.
        if self.outage is None:
            return None
        status, error = self.outage
        return httpx.Response(status, json={"error": error})

    def _invoice_json(self) -> dict:
        return p.invoice_object(p.LATEST, invoice_id=self.invoice_id, status=self.status,
                                include_payments=False)

    def _invoice(self, request, inv):
        self.calls.append("retrieve")
        return httpx.Response(200, json=self._invoice_json())

    def _update(self, request, inv):
        self._hook("update")
        self.calls.append("update:" + request.content.decode())
        if self.update_errors:
            status, error = self.update_errors.popleft()
            return httpx.Response(status, json={"error": error})
        return httpx.Response(200, json=self._invoice_json())

    def _hook(self, name: str) -> None:
        if name in self.hooks:
            self.hooks[name]()

    def _uncollectible(self, request, inv):
        self.calls.append("mark_uncollectible")
        self.status = "uncollectible"
        return httpx.Response(200, json=self._invoice_json())

    def _subscription(self, request, sub):
        self.calls.append("retrieve_subscription")
        return httpx.Response(200, json=p.subscription_object(
            p.LATEST, subscription_id=sub, status=self.subscription_status,
            cancellation_reason=None))

    def _cancel(self, request, sub):
        self.calls.append("cancel_subscription")
        if self.cancel_errors and not self.cancel_errors[0][2]:
            status, error, _after = self.cancel_errors.popleft()
            return httpx.Response(status, json={"error": error})
        if self.subscription_status == "canceled":
            return httpx.Response(400, json={"error": {
                "type": "invalid_request_error",
                "message": "This subscription has already been canceled."}})
        self.subscription_status = "canceled"
        if self.cancel_errors:
            status, error, _after = self.cancel_errors.popleft()
            return httpx.Response(status, json={"error": error})
        return httpx.Response(200, json=p.subscription_object(p.LATEST, subscription_id=sub,
                                                              status="canceled"))

    def _payments(self, request):
        self.calls.append("invoice_payments")
        invoice = request.url.params.get("invoice", self.invoice_id)
        if invoice == self.invoice_id:
            d = self.first_decline
            charge = self.charge_json(self.latest_charge_id or p.CHARGE_ID, d)
        else:
            d = self.declines[invoice]
            charge = self.charge_json(f"ch_{invoice}", d, fingerprint=f"fp_{invoice}")
        intent = p.payment_intent_object(
            p.LATEST, payment_method=p.PAYMENT_METHOD_ID, code=d.failure_code,
            decline_code=d.decline_code, advice_code=d.advice_code,
            network_decline_code=d.network_decline_code,
            network_advice_code=d.network_advice_code, overrides={"latest_charge": charge})
        entry = {"id": f"inpay_{invoice}", "object": "invoice_payment", "invoice": invoice,
                 "amount_requested": 2500, "currency": "usd", "created": p.CREATED,
                 "is_default": True, "livemode": False, "status": "open",
                 "payment": {"type": "payment_intent", "payment_intent": intent}}
        return httpx.Response(200, json={"object": "list", "data": [entry], "has_more": False,
                                         "url": "/v1/invoice_payments"})

    def _charges(self, request):
        """The first decline's charge, as Stripe lists an intent's charges (``created[lte]``)."""
        self.calls.append("charges")
        charge = self.charge_json(p.CHARGE_ID, self.first_decline)
        cutoff = request.url.params.get("created[lte]")
        listed = [charge] if cutoff is None or charge["created"] <= int(cutoff) else []
        return httpx.Response(200, json={"object": "list", "data": listed, "has_more": False,
                                         "url": "/v1/charges"})

    def charge_json(self, charge_id: str, decline: Decline, fingerprint: str | None = None):
        return p.charge_object(
            p.LATEST, charge_id=charge_id, failure_code=decline.failure_code,
            decline_code=decline.decline_code, network_decline_code=decline.network_decline_code,
            network_advice_code=decline.network_advice_code, advice_code=decline.advice_code,
            fingerprint=fingerprint or self.fingerprint, brand=self.brand,
            country=self.card_country,
            method_type=self.method_type,
        )

    def _payment_method_json(self, pm: str) -> dict:
        fingerprint, brand = self.cards.get(pm, (self.fingerprint, self.brand))
        return p.payment_method_object(p.LATEST, payment_method_id=pm, fingerprint=fingerprint,
                                       brand=brand, method_type=self.method_type)

    def _payment_method(self, request, pm):
        return httpx.Response(200, json=self._payment_method_json(pm))

    def _customer(self, request, cus):
        self.calls.append("retrieve_customer")
        default = self.customer_default
        return httpx.Response(200, json=p.customer_object(
            p.LATEST, customer_id=cus,
            default_payment_method=self._payment_method_json(default) if default else None))

    def _update_customer(self, request, cus):
        self.calls.append("update_customer:" + request.content.decode())
        form = parse_qs(request.content.decode())
        self.customer_default = form["invoice_settings[default_payment_method]"][0]
        return self._customer(request, cus)

    def _update_subscription(self, request, sub):
        self.calls.append("update_subscription:" + request.content.decode())
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        refused = self._offer_error(request)
        if refused is not None:
            return refused
        self.subscription_updates.append(form)
        if "default_payment_method" in form:
            self.subscription_default = form["default_payment_method"]
        return httpx.Response(200, json=p.subscription_object(
            p.LATEST, subscription_id=sub, status="past_due",
            overrides={"default_payment_method": self.subscription_default}))

    def _portal(self, request):
        self.calls.append("portal:" + request.content.decode())
        return httpx.Response(200, json={
            "id": "bps_test1", "object": "billing_portal.session", "customer": p.CUSTOMER_ID,
            "url": "https://billing.stripe.com/p/session/test_portal1", "livemode": False})

    def _coupon(self, request):
        """A coupon per idempotency key: the same key gets the same coupon back, as in Stripe."""
        key = request.headers.get("Idempotency-Key")
        refused = self._offer_error(request)
        if refused is not None:
            return refused
        if key not in self.coupons:
            form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
            self.coupons[key] = {
                "id": f"co_test{len(self.coupons) + 1}", "object": "coupon",
                "percent_off": float(form["percent_off"]), "duration": form["duration"],
                "duration_in_months": int(form["duration_in_months"]), "valid": True}
        return httpx.Response(200, json=self.coupons[key])

    def _offer_error(self, request) -> httpx.Response | None:
        key = request.headers.get("Idempotency-Key")
        if key in self.stored:
            status, error = self.stored[key]
            return httpx.Response(status, json={"error": error})
        if not self.offer_errors:
            return None
        status, error = self.offer_errors.popleft()
        if status >= 500 and key:
            self.stored[key] = (status, error)
        return httpx.Response(status, json={"error": error})

    def _card_charged(self, named: str | None) -> str | None:
        method = named or self.subscription_default or self.customer_default
        return self.cards.get(method, (self.fingerprint, self.brand))[0] if method else None

    def _pay(self, request, inv):
        self._hook("pay")
        key = request.headers["Idempotency-Key"]
        self.pay_keys.append(key)
        form = parse_qs(request.content.decode())
        assert form["off_session"] == ["true"]
        self.pay_methods.append(form.get("payment_method", [None])[0])
        if key in self.stored:
            status, error = self.stored[key]
            return httpx.Response(status, json={"error": error})
        if self.pay_errors:
            status, error = self.pay_errors.popleft()
            if status >= 500:
                self.stored[key] = (status, error)
            return httpx.Response(status, json={"error": error})
        if self.status != "open":
            return httpx.Response(400, json={"error": {
                "type": "invalid_request_error", "message": "Invoice is already paid"}})
        result = self.pay_results.popleft() if self.pay_results else "paid"
        self.charges += 1
        self.charged.append(self._card_charged(self.pay_methods[-1]))
        if result == "paid":
            self.status = "paid"
            return httpx.Response(200, json=self._invoice_json())
        if result == "processing":  # accepted, not settled yet: the invoice stays open
            return httpx.Response(200, json=self._invoice_json())
        return httpx.Response(402, json={"error": {
            "type": "card_error", "code": result.failure_code, "decline_code": result.decline_code,
            "network_decline_code": result.network_decline_code,
            "network_advice_code": result.network_advice_code, "advice_code": result.advice_code,
            "charge": f"ch_retry{self.charges}", "message": "Your card was declined."}})


def body_of(request: httpx.Request) -> dict:
    return json.loads(request.content)
