"""The fake Stripe's REST endpoints: each handler reads decoded params, asks the billing pieces to
act, and returns the JSON Stripe would (with ``expand``). Handlers run under the fake's lock.

Only the endpoints the engine's gateway uses are served; anything else gets Stripe's 400
"Unrecognized request URL".
"""

from __future__ import annotations

from typing import Any

from recovery.sandbox.fake_stripe import objects
from recovery.sandbox.fake_stripe.charging import Charging, Kind, require_open
from recovery.sandbox.fake_stripe.customers import Customers
from recovery.sandbox.fake_stripe.errors import StripeApiError, invalid_request
from recovery.sandbox.fake_stripe.http import ApiRequest, Router
from recovery.sandbox.fake_stripe.invoicing import Invoicing
from recovery.sandbox.fake_stripe.ledger import Ledger, expand_params, list_page

Json = dict[str, Any]


class RestApi:
    def __init__(self, ledger: Ledger, charging: Charging, invoicing: Invoicing,
                 customers: Customers) -> None:
        self._ledger = ledger
        self._charging = charging
        self._invoicing = invoicing
        self._customers = customers

    def install(self, router: Router) -> None:
        for method, pattern, handler in (
            ("GET", "/v1/invoices", self.list_invoices),
            ("GET", "/v1/invoices/{id}", self.get_invoice),
            ("POST", "/v1/invoices/{id}", self.update_invoice),
            ("POST", "/v1/invoices/{id}/pay", self.pay_invoice),
            ("POST", "/v1/invoices/{id}/mark_uncollectible", self.mark_uncollectible),
            ("POST", "/v1/invoices/{id}/void", self.void_invoice),
            ("GET", "/v1/invoice_payments", self.list_invoice_payments),
            ("GET", "/v1/payment_intents/{id}", self.get_payment_intent),
            ("GET", "/v1/charges", self.list_charges),
            ("GET", "/v1/charges/{id}", self.get_charge),
            ("GET", "/v1/customers/{id}", self.get_customer),
            ("POST", "/v1/customers/{id}", self.update_customer),
            ("GET", "/v1/customers/{id}/payment_methods", self.list_payment_methods),
            ("GET", "/v1/payment_methods/{id}", self.get_payment_method),
            ("GET", "/v1/subscriptions/{id}", self.get_subscription),
            ("POST", "/v1/subscriptions/{id}", self.update_subscription),
            ("DELETE", "/v1/subscriptions/{id}", self.cancel_subscription),
            ("POST", "/v1/subscriptions/{id}/pause", self.pause_subscription),
            ("POST", "/v1/coupons", self.create_coupon),
            ("POST", "/v1/billing_portal/sessions", self.create_portal_session),
            ("POST", "/v1/checkout/sessions", self.create_checkout_session),
        ):
            router.add(method, pattern, handler)

    def _render(self, obj: Json, request: ApiRequest) -> Json:
        paths = expand_params(request.params)
        if obj["object"] == "invoice" and any(p.split(".")[0] == "payments" for p in paths):
            obj = {**obj, "payments": self._payments_list(obj["id"])}
        return self._ledger.expand(obj, paths) if paths else obj

    def _page(self, items: list[Json], url: str, request: ApiRequest) -> Json:
        # Stripe lists newest first.
        return self._render(list_page(items[::-1], url, request.params), request)

    # --- invoices ---------------------------------------------------------------------------

    def get_invoice(self, request: ApiRequest, id: str) -> Json:
        return self._render(self._ledger.get(id, "invoice"), request)

    def update_invoice(self, request: ApiRequest, id: str) -> Json:
        invoice = self._ledger.get(id, "invoice")
        self._invoicing.update(invoice, request.params, request.origin)
        return self._render(invoice, request)

    def pay_invoice(self, request: ApiRequest, id: str) -> Json:
        """An off-session attempt; a decline answers 402 with the card error (after Stripe's
        ``charge.failed`` and ``invoice.payment_failed``)."""
        invoice = self._ledger.get(id, "invoice")
        require_open(invoice)
        chosen = request.params.get("payment_method")
        method = (self._ledger.get(chosen, "payment_method", param="payment_method") if chosen
                  else self._invoicing.card_on_file(invoice))
        attempt = self._charging.attempt(invoice, method, kind=Kind.MANUAL,
                                         origin=request.origin)
        if attempt.error is not None:
            raise StripeApiError(402, attempt.error)
        return self._render(invoice, request)

    def mark_uncollectible(self, request: ApiRequest, id: str) -> Json:
        invoice = self._ledger.get(id, "invoice")
        self._invoicing.mark_uncollectible(invoice, request.origin)
        return self._render(invoice, request)

    def void_invoice(self, request: ApiRequest, id: str) -> Json:
        invoice = self._ledger.get(id, "invoice")
        self._invoicing.void(invoice, request.origin)
        return self._render(invoice, request)

    def list_invoices(self, request: ApiRequest) -> Json:
        params = request.params
        customer = params.get("customer")
        items = (self._ledger.of_customer(customer, "invoice") if customer
                 else self._ledger.of_kind("invoice"))
        if params.get("status"):
            items = [i for i in items if i["status"] == params["status"]]
        if params.get("subscription"):
            items = [i for i in items if _subscription_of(i) == params["subscription"]]
        return self._page(items, "/v1/invoices", request)

    def list_invoice_payments(self, request: ApiRequest) -> Json:
        params = request.params
        if params.get("invoice"):
            items = self._payments_of(params["invoice"])
        else:
            items = self._ledger.of_kind("invoice_payment")
        payment = params.get("payment")
        if isinstance(payment, dict) and payment.get("payment_intent"):
            wanted = payment["payment_intent"]
            items = [i for i in items if i["payment"].get("payment_intent") == wanted]
        return self._page(items, "/v1/invoice_payments", request)

    def _payments_of(self, invoice_id: str) -> list[Json]:
        payment_id = self._charging.payment_of.get(invoice_id)
        return [self._ledger.find(payment_id)] if payment_id else []

    def _payments_list(self, invoice_id: str) -> Json:
        return {"object": "list", "data": self._payments_of(invoice_id), "has_more": False,
                "url": f"/v1/invoice_payments?invoice={invoice_id}"}

    def get_payment_intent(self, request: ApiRequest, id: str) -> Json:
        return self._render(self._ledger.get(id, "payment_intent"), request)

    def get_charge(self, request: ApiRequest, id: str) -> Json:
        return self._render(self._ledger.get(id, "charge"), request)

    def list_charges(self, request: ApiRequest) -> Json:
        params = request.params
        customer = params.get("customer")
        items = (self._ledger.of_customer(customer, "charge") if customer
                 else self._ledger.of_kind("charge"))
        if params.get("payment_intent"):
            items = [c for c in items if c["payment_intent"] == params["payment_intent"]]
        return self._page(items, "/v1/charges", request)

    # --- customers and payment methods ------------------------------------------------------

    def get_customer(self, request: ApiRequest, id: str) -> Json:
        return self._render(self._ledger.get(id, "customer"), request)

    def update_customer(self, request: ApiRequest, id: str) -> Json:
        customer = self._ledger.get(id, "customer")
        self._customers.update_customer(customer, request.params, request.origin)
        return self._render(customer, request)

    def list_payment_methods(self, request: ApiRequest, id: str) -> Json:
        self._ledger.get(id, "customer")
        items = self._ledger.of_customer(id, "payment_method")
        kind = request.params.get("type")
        if kind:
            items = [m for m in items if m["type"] == kind]
        return self._page(items, f"/v1/customers/{id}/payment_methods", request)

    def get_payment_method(self, request: ApiRequest, id: str) -> Json:
        return self._render(self._ledger.get(id, "payment_method"), request)

    # --- subscriptions ----------------------------------------------------------------------

    def get_subscription(self, request: ApiRequest, id: str) -> Json:
        return self._render(self._ledger.get(id, "subscription"), request)

    def update_subscription(self, request: ApiRequest, id: str) -> Json:
        sub = self._ledger.get(id, "subscription")
        self._customers.update_subscription(sub, request.params, request.origin)
        return self._render(sub, request)

    def cancel_subscription(self, request: ApiRequest, id: str) -> Json:
        """DELETE cancels now. Stripe itself names the reason; a cancellation the account
        requests is ``cancellation_requested``."""
        sub = self._ledger.get(id, "subscription")
        self._customers.cancel_subscription(
            sub, reason="cancellation_requested", origin=request.origin,
            details=request.params.get("cancellation_details"))
        return self._render(sub, request)

    def pause_subscription(self, request: ApiRequest, id: str) -> Json:
        sub = self._ledger.get(id, "subscription")
        self._customers.pause_subscription(sub, request.origin)
        return self._render(sub, request)

    # --- coupons and hosted pages -----------------------------------------------------------

    def create_coupon(self, request: ApiRequest) -> Json:
        params = request.params
        if not params.get("percent_off") and not params.get("amount_off"):
            raise invalid_request("You must pass either percent_off or amount_off.")
        if params.get("duration") == "repeating" and not params.get("duration_in_months"):
            raise invalid_request("A repeating coupon needs duration_in_months.",
                                  param="duration_in_months")
        coupon_id = params.get("id") or self._ledger.new_id("co")
        if self._ledger.find(coupon_id) is not None:
            raise invalid_request("Coupon already exists.", code="resource_already_exists",
                                  param="id")
        coupon = objects.coupon(coupon_id, params=params, created=self._ledger.now())
        return self._render(self._ledger.add(coupon), request)

    def create_portal_session(self, request: ApiRequest) -> Json:
        customer = request.params.get("customer")
        if not customer:
            raise invalid_request("Missing required param: customer.", code="parameter_missing",
                                  param="customer")
        self._ledger.get(customer, "customer", param="customer")
        session = objects.portal_session(
            self._ledger.new_id("bps", customer), params=request.params,
            configuration=f"bpc_{self._ledger.account_id}", created=self._ledger.now())
        return self._render(self._ledger.add(session), request)

    def create_checkout_session(self, request: ApiRequest) -> Json:
        params = request.params
        if params.get("customer"):
            self._ledger.get(params["customer"], "customer", param="customer")
        scope = params.get("customer") or ""
        setup_intent = self._ledger.new_id("seti", scope) if params.get("mode") == "setup" else None
        session = objects.checkout_session(
            f"cs_test_{self._ledger.new_id('cs', scope)[3:]}", params=params,
            setup_intent_id=setup_intent, created=self._ledger.now())
        return self._render(self._ledger.add(session), request)


def _subscription_of(invoice: Json) -> str | None:
    return invoice["parent"]["subscription_details"]["subscription"]
