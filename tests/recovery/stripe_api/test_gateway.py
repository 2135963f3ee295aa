"""The Stripe gateway against Stripe faked at the HTTP edge (respx): real SDK requests."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import parse_qs

import httpx
import pytest
import respx
import stripe

from recovery.errors import AccountAccessRevoked, GatewayError, GatewayUnavailable
from recovery.stripe_api.gateway import PINNED_API_VERSION, StripeGateway
from recovery.stripe_api.rate_limit import TokenBucket
from recovery.stripe_api.results import AttemptDetails, InvoiceState, PaymentOutcome, Refusal
from webhooks.facts import CardInfo, DeclineInfo

API = "https://api.stripe.com"
NEXT_ATTEMPT_AT = datetime(2026, 11, 4, 14, 0, tzinfo=UTC)
NEXT_ATTEMPT = int(NEXT_ATTEMPT_AT.timestamp())


@pytest.fixture
def stripe_api():
    with respx.mock(base_url=API, assert_all_called=False) as mock:
        yield mock


@pytest.fixture
def gateway():
    built = StripeGateway("sk_test_gateway")
    yield built
    built.close()


# Payload builders (shapes of API version 2026-10-28.endive)


def invoice(invoice_id="in_1", status="open", **overrides) -> dict:
    body = {
        "id": invoice_id,
        "object": "invoice",
        "status": status,
        "customer": "cus_1",
        "currency": "usd",
        "amount_due": 2500,
        "amount_remaining": 2500 if status == "open" else 0,
        "attempt_count": 2,
        "next_payment_attempt": NEXT_ATTEMPT,
        "auto_advance": True,
        "default_payment_method": None,
        "hosted_invoice_url": "https://invoice.stripe.com/i/acct_1/test_1",
        "parent": {
            "type": "subscription_details",
            "subscription_details": {"subscription": "sub_1", "metadata": {}},
        },
    }
    return body | overrides


def card_method(pm_id="pm_1") -> dict:
    return {
        "id": pm_id,
        "object": "payment_method",
        "type": "card",
        "card": {
            "brand": "mastercard",
            "funding": "debit",
            "country": "GB",
            "exp_month": 4,
            "exp_year": 2028,
            "last4": "4444",
            "fingerprint": "fp_master_1",
        },
    }


def error_body(status_type: str, code: str | None, message: str, **fields) -> dict:
    return {"error": {"type": status_type, "code": code, "message": message, **fields}}


def failed_charge(charge_id="ch_1") -> dict:
    return {
        "id": charge_id,
        "object": "charge",
        "status": "failed",
        "failure_code": "card_declined",
        "failure_message": "Your card has insufficient funds.",
        "payment_intent": "pi_1",
        "payment_method": "pm_1",
        "outcome": {
            "type": "issuer_declined",
            "reason": "insufficient_funds",
            "network_status": "declined_by_network",
            "network_decline_code": "51",
            "network_advice_code": "24",
            "advice_code": "try_again_later",
        },
        "payment_method_details": {"type": "card", "card": card_method()["card"]},
    }


def listing(*items: dict, has_more: bool = False, url: str = "/v1/invoice_payments") -> dict:
    return {"object": "list", "url": url, "has_more": has_more, "data": list(items)}


def invoice_payment(created: int, status: str, payment: dict) -> dict:
    return {
        "id": f"inpay_{created}",
        "object": "invoice_payment",
        "status": status,
        "created": created,
        "payment": payment,
    }


def subscription_body(status: str) -> dict:
    return {"id": "sub_1", "object": "subscription", "status": status}


MASTERCARD = CardInfo(
    fingerprint="fp_master_1",
    brand="mastercard",
    funding="debit",
    country="GB",
    exp_month=4,
    exp_year=2028,
    last4="4444",
    payment_method_id="pm_1",
)


def query(request: httpx.Request) -> dict[str, list[str]]:
    return parse_qs(request.url.query.decode())


def form(request: httpx.Request) -> dict[str, list[str]]:
    return parse_qs(request.content.decode())


# Paying an invoice


def test_pay_success_returns_paid_with_the_payment_ids(stripe_api, gateway):
    paid = invoice(status="paid")
    paid["payments"] = listing(
        invoice_payment(1, "paid", {"type": "payment_intent", "payment_intent": "pi_9"})
    )
    route = stripe_api.post("/v1/invoices/in_1/pay", data={"off_session": "true"})
    route.respond(200, json=paid)

    outcome = gateway.pay_invoice("in_1", idempotency_key="pay:in_1:1")

    assert outcome == PaymentOutcome(
        paid=True, decline=None, card=None, charge_id=None, payment_intent_id="pi_9"
    )


def test_pay_card_error_becomes_a_decline_value_with_every_field(stripe_api, gateway):
    body = error_body(
        "card_error",
        "card_declined",
        "Your card has insufficient funds.",
        decline_code="insufficient_funds",
        advice_code="try_again_later",
        network_decline_code="51",
        network_advice_code="24",
        charge="ch_7",
        payment_intent={
            "id": "pi_7",
            "object": "payment_intent",
            "status": "requires_payment_method",
            "last_payment_error": {"type": "card_error", "payment_method": card_method()},
        },
    )
    stripe_api.post("/v1/invoices/in_1/pay").respond(402, json=body)

    outcome = gateway.pay_invoice("in_1", idempotency_key="pay:in_1:2", payment_method_id="pm_1")

    assert outcome == PaymentOutcome(
        paid=False,
        decline=DeclineInfo(
            failure_code="card_declined",
            decline_code="insufficient_funds",
            advice_code="try_again_later",
            network_decline_code="51",
            network_advice_code="24",
            message="Your card has insufficient funds.",
            charge_id="ch_7",
            payment_intent_id="pi_7",
        ),
        card=MASTERCARD,
        charge_id="ch_7",
        payment_intent_id="pi_7",
    )


def test_pay_sends_the_idempotency_key_the_pinned_version_and_the_method(stripe_api, gateway):
    route = stripe_api.post("/v1/invoices/in_1/pay").respond(200, json=invoice(status="paid"))

    gateway.pay_invoice("in_1", idempotency_key="pay:in_1:3", payment_method_id="pm_2")

    request = route.calls.last.request
    assert request.headers["Idempotency-Key"] == "pay:in_1:3"
    assert request.headers["Stripe-Version"] == "2026-10-28.endive"
    assert "Stripe-Account" not in request.headers
    assert form(request) == {"off_session": ["true"], "payment_method": ["pm_2"]}


def test_the_pinned_version_is_the_sdks_own():
    assert PINNED_API_VERSION == stripe.api_version == "2026-10-28.endive"
    built = StripeGateway("sk_test_x")
    assert built.api_version == PINNED_API_VERSION
    built.close()


def test_connect_calls_send_the_stripe_account_header(stripe_api, gateway):
    route = stripe_api.get("/v1/invoices/in_1").respond(200, json=invoice())

    gateway.retrieve_invoice("in_1", stripe_account="acct_123")

    assert route.calls.last.request.headers["Stripe-Account"] == "acct_123"


@pytest.mark.parametrize(
    ("status", "body", "headers", "retry_after"),
    [
        (
            429,
            error_body("invalid_request_error", "rate_limit", "Too many"),
            {"Retry-After": "2"},
            2.0,
        ),
        (500, error_body("api_error", None, "Something went wrong"), {}, None),
        (409, error_body("invalid_request_error", "idempotency_key_in_use", "In use"), {}, None),
        (409, error_body("invalid_request_error", "lock_timeout", "Locked"), {}, None),
    ],
)
def test_transient_answers_become_gateway_unavailable(
    stripe_api, gateway, status, body, headers, retry_after
):
    stripe_api.post("/v1/invoices/in_1/pay").respond(status, json=body, headers=headers)

    with pytest.raises(GatewayUnavailable) as raised:
        gateway.pay_invoice("in_1", idempotency_key="pay:in_1:4")

    assert raised.value.retry_after_seconds == retry_after


@pytest.mark.parametrize(
    ("status", "body", "spent"),
    [
        (500, error_body("api_error", None, "Something went wrong"), True),
        (503, error_body("api_error", None, "Unavailable"), True),
        (409, error_body("invalid_request_error", "idempotency_key_in_use", "In use"), False),
        (429, error_body("invalid_request_error", "rate_limit", "Too many"), False),
    ],
)
def test_only_a_5xx_spends_the_idempotency_key(stripe_api, gateway, status, body, spent):
    """Stripe stores a 5xx under the key and replays it for 24 h; 409s and 429s are not
    stored (https://docs.stripe.com/api/idempotent_requests)."""
    stripe_api.post("/v1/invoices/in_1/pay").respond(status, json=body)

    with pytest.raises(GatewayUnavailable) as raised:
        gateway.pay_invoice("in_1", idempotency_key="recovery:7")

    assert raised.value.key_spent is spent


def test_a_5xx_without_a_key_of_ours_spends_nothing(stripe_api, gateway):
    stripe_api.get("/v1/invoices/in_1").respond(500, json=error_body("api_error", None, "Boom"))

    with pytest.raises(GatewayUnavailable) as raised:
        gateway.retrieve_invoice("in_1")

    assert raised.value.key_spent is False


def test_a_timeout_keeps_the_key(stripe_api, gateway):
    stripe_api.post("/v1/invoices/in_1/pay").mock(side_effect=httpx.ReadTimeout("slow"))

    with pytest.raises(GatewayUnavailable) as raised:
        gateway.pay_invoice("in_1", idempotency_key="recovery:7")

    assert raised.value.key_spent is False


@pytest.mark.parametrize(
    ("status", "body", "refusal"),
    [
        (400, error_body("invalid_request_error", None,
                         "This customer has no attached payment source or default payment "
                         "method. Please consider adding a default payment method."),
         Refusal.no_payment_method),
        (404, error_body("invalid_request_error", "resource_missing",
                         "No such PaymentMethod: 'pm_gone'", param="payment_method"),
         Refusal.no_payment_method),
        (400, error_body("invalid_request_error", "payment_intent_unexpected_state",
                         "You cannot pay this invoice because its payment is processing."),
         Refusal.processing),
        (400, error_body("invalid_request_error", "payment_intent_unexpected_state",
                         "Unexpected state.",
                         payment_intent={"id": "pi_1", "object": "payment_intent",
                                         "status": "processing"}),
         Refusal.processing),
        (400, error_body("invalid_request_error", "invoice_not_open", "This invoice is void."),
         Refusal.invoice_not_open),
        (400, error_body("invalid_request_error", None, "Invoice is already paid"),
         Refusal.invoice_not_open),
        (400, error_body("invalid_request_error", "invoice_not_editable", "Not editable."),
         Refusal.other),
    ],
)
def test_a_refused_pay_says_what_kind_of_refusal_it_is(stripe_api, gateway, status, body,
                                                       refusal):
    stripe_api.post("/v1/invoices/in_1/pay").respond(status, json=body)

    outcome = gateway.pay_invoice("in_1", idempotency_key="recovery:8")

    assert outcome.refusal == refusal
    assert not (outcome.paid or outcome.pending or outcome.requires_action)


def test_a_connection_error_becomes_gateway_unavailable(stripe_api, gateway):
    stripe_api.get("/v1/invoices/in_1").mock(side_effect=httpx.ConnectError("refused"))

    with pytest.raises(GatewayUnavailable):
        gateway.retrieve_invoice("in_1")


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_become_account_access_revoked(stripe_api, gateway, status):
    body = error_body("invalid_request_error", None, "Invalid API Key provided")
    stripe_api.post("/v1/invoices/in_1/pay").respond(status, json=body)

    with pytest.raises(AccountAccessRevoked):
        gateway.pay_invoice("in_1", idempotency_key="pay:in_1:5")


def test_an_already_paid_invoice_is_not_payable(stripe_api, gateway):
    body = error_body("invalid_request_error", None, "Invoice is already paid")
    stripe_api.post("/v1/invoices/in_1/pay").respond(400, json=body)

    outcome = gateway.pay_invoice("in_1", idempotency_key="pay:in_1:6")

    assert outcome.paid is False
    assert outcome.not_payable == "already_paid"
    assert outcome.decline is None


def test_a_void_invoice_is_not_payable_with_stripes_reason(stripe_api, gateway):
    body = error_body("invalid_request_error", "invoice_not_open", "This invoice is void.")
    stripe_api.post("/v1/invoices/in_1/pay").respond(400, json=body)

    outcome = gateway.pay_invoice("in_1", idempotency_key="pay:in_1:7")

    assert outcome.not_payable == "invoice_not_open: This invoice is void."


@pytest.mark.parametrize(
    ("status", "error_type"), [(400, "invalid_request_error"), (402, "card_error")]
)
def test_a_payment_needing_authentication_requires_action(stripe_api, gateway, status, error_type):
    body = error_body(
        error_type,
        "invoice_payment_intent_requires_action",
        "This payment requires additional user action before it can be completed.",
        payment_intent={"id": "pi_3ds", "object": "payment_intent", "status": "requires_action"},
    )
    stripe_api.post("/v1/invoices/in_1/pay").respond(status, json=body)

    outcome = gateway.pay_invoice("in_1", idempotency_key="pay:in_1:8")

    assert outcome.requires_action is True
    assert outcome.paid is False
    assert outcome.not_payable is None
    assert outcome.payment_intent_id == "pi_3ds"


def test_a_reused_idempotency_key_is_a_gateway_error_not_a_transient_one(stripe_api, gateway):
    body = error_body(
        "idempotency_error",
        None,
        "Keys for idempotent requests can only be used with the same parameters",
    )
    stripe_api.post("/v1/invoices/in_1/pay").respond(400, json=body)

    with pytest.raises(GatewayError) as raised:
        gateway.pay_invoice("in_1", idempotency_key="pay:in_1:9")

    assert not isinstance(raised.value, GatewayUnavailable | AccountAccessRevoked)
    assert "idempotency" in str(raised.value)


def test_an_invalid_request_outside_pay_is_a_gateway_error(stripe_api, gateway):
    body = error_body("invalid_request_error", "resource_missing", "No such invoice: 'in_x'")
    stripe_api.get("/v1/invoices/in_x").respond(404, json=body)

    with pytest.raises(GatewayError, match="resource_missing") as raised:
        gateway.retrieve_invoice("in_x")

    assert not isinstance(raised.value, GatewayUnavailable)


# Reading invoices and attempts


def test_retrieve_invoice_reads_an_endive_invoice(stripe_api, gateway):
    stripe_api.get("/v1/invoices/in_1").respond(
        200,
        json=invoice(default_payment_method="pm_1", customer={"id": "cus_1", "object": "customer"}),
    )

    state = gateway.retrieve_invoice("in_1")

    assert state == InvoiceState(
        id="in_1",
        status="open",
        customer_id="cus_1",
        subscription_id="sub_1",
        amount_due=2500,
        amount_remaining=2500,
        currency="usd",
        attempt_count=2,
        next_payment_attempt=NEXT_ATTEMPT_AT,
        auto_advance=True,
        default_payment_method_id="pm_1",
        hosted_invoice_url="https://invoice.stripe.com/i/acct_1/test_1",
    )


def test_latest_attempt_reads_the_payment_intent_and_its_latest_charge(stripe_api, gateway):
    old = {"id": "pi_old", "object": "payment_intent"}
    new = {"id": "pi_1", "object": "payment_intent", "latest_charge": "ch_1"}
    listed = listing(
        invoice_payment(100, "canceled", {"type": "payment_intent", "payment_intent": old}),
        invoice_payment(200, "open", {"type": "payment_intent", "payment_intent": new}),
    )
    payments = stripe_api.get("/v1/invoice_payments").respond(200, json=listed)
    intent = {
        "id": "pi_1",
        "object": "payment_intent",
        "status": "requires_payment_method",
        "latest_charge": failed_charge(),
        "last_payment_error": {
            "type": "card_error",
            "code": "card_declined",
            "decline_code": "insufficient_funds",
            "message": "Your card has insufficient funds.",
            "charge": "ch_1",
        },
    }
    intent_route = stripe_api.get("/v1/payment_intents/pi_1").respond(200, json=intent)

    attempt = gateway.latest_attempt("in_1")

    assert query(payments.calls.last.request) == {
        "invoice": ["in_1"],
        "expand[0]": ["data.payment.payment_intent.latest_charge"],
    }
    assert query(intent_route.calls.last.request) == {"expand[0]": ["latest_charge"]}
    assert attempt == AttemptDetails(
        decline=DeclineInfo(
            failure_code="card_declined",
            decline_code="insufficient_funds",
            advice_code="try_again_later",
            network_decline_code="51",
            network_advice_code="24",
            outcome_type="issuer_declined",
            outcome_reason="insufficient_funds",
            network_status="declined_by_network",
            message="Your card has insufficient funds.",
            charge_id="ch_1",
            payment_intent_id="pi_1",
        ),
        card=MASTERCARD,
        charge_id="ch_1",
        payment_intent_id="pi_1",
        succeeded=False,
    )


def test_latest_attempt_is_none_without_payments(stripe_api, gateway):
    stripe_api.get("/v1/invoice_payments").respond(200, json=listing())

    assert gateway.latest_attempt("in_1") is None


def test_latest_attempt_on_a_bare_charge_reads_the_charge(stripe_api, gateway):
    listed = listing(invoice_payment(1, "open", {"type": "charge", "charge": "ch_1"}))
    stripe_api.get("/v1/invoice_payments").respond(200, json=listed)
    stripe_api.get("/v1/charges/ch_1").respond(200, json=failed_charge())

    attempt = gateway.latest_attempt("in_1")

    assert attempt is not None
    assert attempt.charge_id == "ch_1"
    assert attempt.payment_intent_id == "pi_1"
    assert attempt.decline is not None
    assert attempt.decline.decline_code == "insufficient_funds"  # from outcome.reason
    assert attempt.decline.network_advice_code == "24"


def test_open_invoices_follows_every_page(stripe_api, gateway):
    first = listing(invoice("in_1"), has_more=True, url="/v1/invoices")
    second = listing(invoice("in_2"), url="/v1/invoices")
    route = stripe_api.get("/v1/invoices").mock(
        side_effect=[httpx.Response(200, json=first), httpx.Response(200, json=second)]
    )

    states = gateway.open_invoices("cus_1", stripe_account="acct_9")

    assert [state.id for state in states] == ["in_1", "in_2"]
    last = route.calls.last.request
    assert query(last)["starting_after"] == ["in_1"]
    assert query(last)["status"] == ["open"]
    assert last.headers["Stripe-Account"] == "acct_9"


# Cards


def test_customer_default_card_reads_the_expanded_default_payment_method(stripe_api, gateway):
    customer = {
        "id": "cus_1",
        "object": "customer",
        "invoice_settings": {"default_payment_method": card_method("pm_5")},
        "default_source": None,
    }
    route = stripe_api.get("/v1/customers/cus_1").respond(200, json=customer)

    card = gateway.customer_default_card("cus_1")

    assert card is not None and card.payment_method_id == "pm_5" and card.last4 == "4444"
    assert query(route.calls.last.request) == {
        "expand[0]": ["invoice_settings.default_payment_method"],
        "expand[1]": ["default_source"],
    }


def test_customer_default_card_falls_back_to_a_legacy_card_source(stripe_api, gateway):
    source = {
        "id": "card_1",
        "object": "card",
        "brand": "American Express",
        "funding": "credit",
        "country": "US",
        "exp_month": 1,
        "exp_year": 2027,
        "last4": "0005",
        "fingerprint": "fp_amex",
    }
    customer = {
        "id": "cus_1",
        "object": "customer",
        "invoice_settings": {"default_payment_method": None},
        "default_source": source,
    }
    stripe_api.get("/v1/customers/cus_1").respond(200, json=customer)

    card = gateway.customer_default_card("cus_1")

    assert card == CardInfo(
        fingerprint="fp_amex",
        brand="amex",
        funding="credit",
        country="US",
        exp_month=1,
        exp_year=2027,
        last4="0005",
        payment_method_id="card_1",
    )


def test_set_default_payment_method_updates_customer_and_subscription(stripe_api, gateway):
    customer = stripe_api.post("/v1/customers/cus_1").respond(
        200, json={"id": "cus_1", "object": "customer"}
    )
    subscription = stripe_api.post("/v1/subscriptions/sub_1").respond(
        200, json=subscription_body("past_due")
    )

    gateway.set_default_payment_method(
        "cus_1", "pm_9", subscription_id="sub_1", idempotency_key="pm:1"
    )

    assert form(customer.calls.last.request) == {
        "invoice_settings[default_payment_method]": ["pm_9"]
    }
    assert form(subscription.calls.last.request) == {"default_payment_method": ["pm_9"]}
    assert customer.calls.last.request.headers["Idempotency-Key"] == "pm:1:customer"
    assert subscription.calls.last.request.headers["Idempotency-Key"] == "pm:1:subscription"


def test_card_update_link_opens_the_portal_on_payment_method_update(stripe_api, gateway):
    route = stripe_api.post("/v1/billing_portal/sessions").respond(
        200,
        json={
            "id": "bps_1",
            "object": "billing_portal.session",
            "url": "https://billing.stripe.com/p/session/1",
        },
    )

    url = gateway.card_update_link("cus_1", "https://example.com/back")

    assert url == "https://billing.stripe.com/p/session/1"
    sent = form(route.calls.last.request)
    assert sent["flow_data[type]"] == ["payment_method_update"]
    assert sent["customer"] == ["cus_1"]


# Invoice and subscription actions


def test_set_auto_advance_posts_the_flag(stripe_api, gateway):
    route = stripe_api.post("/v1/invoices/in_1").respond(200, json=invoice(auto_advance=False))

    state = gateway.set_auto_advance("in_1", False, idempotency_key="own:in_1")

    assert form(route.calls.last.request) == {"auto_advance": ["false"]}
    assert state.auto_advance is False


def test_cancel_subscription_is_a_delete_and_returns_the_status(stripe_api, gateway):
    route = stripe_api.delete("/v1/subscriptions/sub_1").respond(
        200, json=subscription_body("canceled")
    )

    status = gateway.cancel_subscription("sub_1", comment="dunning exhausted")

    assert status == "canceled"
    assert query(route.calls.last.request) == {
        "cancellation_details[comment]": ["dunning exhausted"]
    }


def test_pause_collection_sends_behavior_and_resume_time(stripe_api, gateway):
    route = stripe_api.post("/v1/subscriptions/sub_1").respond(
        200, json=subscription_body("active")
    )

    status = gateway.pause_collection("sub_1", "keep_as_draft", datetime(2026, 12, 1, tzinfo=UTC))

    assert status == "active"
    assert form(route.calls.last.request) == {
        "pause_collection[behavior]": ["keep_as_draft"],
        "pause_collection[resumes_at]": [str(int(datetime(2026, 12, 1, tzinfo=UTC).timestamp()))],
    }


def test_apply_discount_creates_a_repeating_coupon_and_attaches_it(stripe_api, gateway):
    coupon = stripe_api.post("/v1/coupons").respond(200, json={"id": "co_1", "object": "coupon"})
    subscription = stripe_api.post("/v1/subscriptions/sub_1", data={"discounts[0][coupon]": "co_1"})
    subscription.respond(200, json=subscription_body("active"))

    coupon_id = gateway.apply_discount("sub_1", 30, 3, idempotency_key="offer:1")

    assert coupon_id == "co_1"
    assert subscription.called
    assert form(coupon.calls.last.request) == {
        "percent_off": ["30"],
        "duration": ["repeating"],
        "duration_in_months": ["3"],
    }
    assert coupon.calls.last.request.headers["Idempotency-Key"] == "offer:1:coupon"


# Plumbing


def test_a_transport_replaces_the_network():
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=json.dumps(invoice("in_local")))

    local = StripeGateway(
        "sk_test_sandbox", api_base="http://fake-stripe", transport=httpx.MockTransport(answer)
    )

    assert local.retrieve_invoice("in_local").id == "in_local"
    assert str(seen[0].url) == "http://fake-stripe/v1/invoices/in_local"
    assert seen[0].headers["Stripe-Version"] == PINNED_API_VERSION
    local.close()


def test_every_call_takes_a_token_for_its_account(stripe_api):
    sleeps: list[float] = []
    bucket = TokenBucket(1, burst=1, monotonic=lambda: 0.0, sleep=sleeps.append)
    limited = StripeGateway("sk_test_gateway", rate_limiter=bucket)
    stripe_api.get("/v1/invoices/in_1").respond(200, json=invoice())

    limited.retrieve_invoice("in_1", stripe_account="acct_a")
    limited.retrieve_invoice("in_1", stripe_account="acct_b")
    limited.retrieve_invoice("in_1")
    assert sleeps == []
    limited.retrieve_invoice("in_1", stripe_account="acct_a")
    assert sleeps == [1.0]
    limited.close()


def test_customer_contact_reads_email_name_phone_and_preferred_locales(stripe_api, gateway):
    stripe_api.get("/v1/customers/cus_1").respond(200, json={
        "id": "cus_1", "object": "customer", "email": "ana@example.com", "name": "Ana Müller",
        "phone": "+4930123456", "preferred_locales": ["de-CH", "en"]})
    contact = gateway.customer_contact("cus_1")
    assert (contact.email, contact.name, contact.phone) == \
        ("ana@example.com", "Ana Müller", "+4930123456")
    assert contact.preferred_locales == ("de-CH", "en")
    assert not contact.deleted


def test_customer_contact_of_a_deleted_customer_has_no_address(stripe_api, gateway):
    stripe_api.get("/v1/customers/cus_gone").respond(200, json={
        "id": "cus_gone", "object": "customer", "deleted": True})
    contact = gateway.customer_contact("cus_gone")
    assert contact.deleted and contact.email is None and contact.preferred_locales == ()


# Sending a request again at once after Stripe trouble (``transient_retries``)


@pytest.fixture
def repeating():
    waits: list[float] = []
    built = StripeGateway("sk_test_gateway", transient_retries=2, wait=waits.append)
    yield built, waits
    built.close()


RATE_LIMITED = error_body("invalid_request_error", "rate_limit", "Too many")
SERVER_ERROR = error_body("api_error", None, "Something went wrong")


def test_a_read_that_met_stripe_trouble_is_sent_again_at_once(stripe_api, repeating):
    gateway, waits = repeating
    route = stripe_api.get("/v1/invoices/in_1").mock(side_effect=[
        httpx.Response(429, json=RATE_LIMITED), httpx.ConnectError("reset"),
        httpx.Response(200, json=invoice()),
    ])

    assert gateway.retrieve_invoice("in_1").status == "open"
    assert route.call_count == 3 and waits == [0.5, 1.0]


def test_a_keyed_pay_whose_answer_was_lost_is_sent_again_under_its_key(stripe_api, repeating):
    """Stripe replays the first call's answer for the key: the charge is made once."""
    gateway, waits = repeating
    route = stripe_api.post("/v1/invoices/in_1/pay").mock(side_effect=[
        httpx.ReadTimeout("slow"), httpx.Response(200, json=invoice(status="paid")),
    ])

    assert gateway.pay_invoice("in_1", idempotency_key="recovery:7").paid
    keys = [call.request.headers["Idempotency-Key"] for call in route.calls]
    assert keys == ["recovery:7", "recovery:7"] and waits == [0.5]


def test_a_5xx_on_a_keyed_write_is_not_sent_again(stripe_api, repeating):
    """Stripe stored it under the key: the same key would only get it again."""
    gateway, waits = repeating
    route = stripe_api.post("/v1/invoices/in_1/pay").respond(500, json=SERVER_ERROR)

    with pytest.raises(GatewayUnavailable) as raised:
        gateway.pay_invoice("in_1", idempotency_key="recovery:7")

    assert raised.value.key_spent and route.call_count == 1 and waits == []


def test_a_cancel_is_never_sent_twice(stripe_api, repeating):
    """A DELETE is not replayed by key: a cancel that ran before its answer was lost would be
    refused as already canceled."""
    gateway, waits = repeating
    route = stripe_api.delete("/v1/subscriptions/sub_1").mock(
        side_effect=httpx.ReadTimeout("slow"))

    with pytest.raises(GatewayUnavailable):
        gateway.cancel_subscription("sub_1", idempotency_key="recovery:9:subscription")

    assert route.call_count == 1 and waits == []


def test_trouble_that_lasts_is_raised_after_the_retries(stripe_api, repeating):
    gateway, waits = repeating
    route = stripe_api.get("/v1/invoices/in_1").respond(429, json=RATE_LIMITED)

    with pytest.raises(GatewayUnavailable):
        gateway.retrieve_invoice("in_1")

    assert route.call_count == 3 and waits == [0.5, 1.0]


def test_a_long_retry_after_is_left_to_the_callers_backoff(stripe_api, repeating):
    gateway, waits = repeating
    route = stripe_api.get("/v1/invoices/in_1").respond(
        429, json=RATE_LIMITED, headers={"Retry-After": "30"})

    with pytest.raises(GatewayUnavailable) as raised:
        gateway.retrieve_invoice("in_1")

    assert raised.value.retry_after_seconds == 30
    assert route.call_count == 1 and waits == []


def test_a_refusal_is_not_sent_again(stripe_api, repeating):
    gateway, waits = repeating
    route = stripe_api.get("/v1/invoices/in_1").respond(
        404, json=error_body("invalid_request_error", "resource_missing", "No such invoice"))

    with pytest.raises(GatewayError):
        gateway.retrieve_invoice("in_1")

    assert route.call_count == 1 and waits == []
