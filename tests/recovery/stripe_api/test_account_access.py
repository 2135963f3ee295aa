"""Per-account access in the gateway: an account's own key per request, a Connect account's
``Stripe-Account``, pacing by account or key digest, and the account and webhook-endpoint calls.
Stripe is faked at the HTTP edge (respx): the headers asserted are the ones the SDK sent."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest
import respx

from recovery.errors import AccountAccessRevoked, GatewayUnavailable
from recovery.stripe_api.access import AccountAccess, key_digest, pacing_key
from recovery.stripe_api.gateway import PINNED_API_VERSION, StripeGateway

API = "https://api.stripe.com"
GATEWAY_KEY = "sk_test_gateway"
OWN_KEY = "rk_live_51OwnRestrictedKeyP0o9I8u7Y6t5"
INVOICE = {"id": "in_1", "object": "invoice", "status": "open", "customer": "cus_1",
           "currency": "usd", "amount_due": 100, "amount_remaining": 100}


class RecordingLimiter:
    def __init__(self) -> None:
        self.keys: list[str] = []

    def acquire(self, key: str = "default") -> float:
        self.keys.append(key)
        return 0.0


@pytest.fixture
def limiter():
    return RecordingLimiter()


@pytest.fixture
def gateway(limiter):
    built = StripeGateway(GATEWAY_KEY, rate_limiter=limiter)
    yield built
    built.close()


@pytest.fixture
def stripe_api():
    with respx.mock(base_url=API, assert_all_called=False) as mock:
        yield mock


@pytest.mark.parametrize(("access", "bearer", "stripe_account"), [
    (None, GATEWAY_KEY, None),
    ("acct_1Seller", GATEWAY_KEY, "acct_1Seller"),
    (AccountAccess(api_key=OWN_KEY), OWN_KEY, None),
    (AccountAccess(stripe_account="acct_1Seller"), GATEWAY_KEY, "acct_1Seller"),
    (AccountAccess(api_key=OWN_KEY, stripe_account="acct_1Sub"), OWN_KEY, "acct_1Sub"),
])
def test_each_request_carries_the_accounts_key_and_stripe_account(gateway, stripe_api, access,
                                                                  bearer, stripe_account):
    route = stripe_api.get("/v1/invoices/in_1").respond(200, json=INVOICE)
    gateway.retrieve_invoice("in_1", stripe_account=access)
    headers = route.calls.last.request.headers
    assert headers["Authorization"] == f"Bearer {bearer}"
    assert headers.get("Stripe-Account") == stripe_account


def test_requests_are_paced_by_account_or_by_a_digest_of_the_key(gateway, stripe_api, limiter):
    stripe_api.get("/v1/invoices/in_1").respond(200, json=INVOICE)
    for access in (AccountAccess(api_key=OWN_KEY), "acct_1Seller", None):
        gateway.retrieve_invoice("in_1", stripe_account=access)
    assert limiter.keys == [f"key:{key_digest(OWN_KEY)}", "acct_1Seller", "default"]
    assert all(OWN_KEY[8:] not in key for key in limiter.keys)
    assert pacing_key(AccountAccess(api_key=OWN_KEY, stripe_account="acct_1")) == "acct_1"


def test_the_current_account_is_one_get_and_a_refused_key_is_access_revoked(gateway,
                                                                            stripe_api):
    route = stripe_api.get("/v1/account").respond(200, json={
        "id": "acct_1Own", "object": "account", "country": "DE",
        "business_profile": {"name": "Own GmbH"}})
    found = gateway.current_account(stripe_account=AccountAccess(api_key=OWN_KEY))
    assert (found.id, found.display_name, found.country) == ("acct_1Own", "Own GmbH", "DE")
    assert route.call_count == 1

    route.respond(401, json={"error": {"type": "invalid_request_error", "message":
                                       f"Invalid API Key provided: {OWN_KEY}"}})
    with pytest.raises(AccountAccessRevoked, match="HTTP 401") as refused:
        gateway.current_account(stripe_account=AccountAccess(api_key=OWN_KEY))
    # Even when a message repeats the key, the error does not.
    assert OWN_KEY[8:] not in str(refused.value)


def test_a_webhook_endpoint_is_registered_in_the_pinned_version(gateway, stripe_api):
    route = stripe_api.post("/v1/webhook_endpoints").respond(200, json={
        "id": "we_1", "object": "webhook_endpoint", "secret": "whsec_abcdef0123456789",
        "livemode": True, "enabled_events": ["invoice.paid", "invoice.payment_failed"],
        "api_version": PINNED_API_VERSION})
    endpoint = gateway.create_webhook_endpoint(
        "https://recovery.example.com/webhooks/stripe", ["invoice.paid", "invoice.payment_failed"],
        connect=True, metadata={"recovery_account": "acct_default"})
    form = parse_qs(route.calls.last.request.content.decode())
    assert form["url"] == ["https://recovery.example.com/webhooks/stripe"]
    assert (form["enabled_events[0]"], form["enabled_events[1]"]) == (
        ["invoice.paid"], ["invoice.payment_failed"])
    assert form["api_version"] == [PINNED_API_VERSION] and form["connect"] == ["true"]
    assert (endpoint.id, endpoint.secret, endpoint.livemode) == (
        "we_1", "whsec_abcdef0123456789", True)
    assert "whsec_" not in repr(endpoint)


def test_deleting_an_endpoint_stripe_no_longer_has_is_not_an_error(gateway, stripe_api):
    route = stripe_api.delete("/v1/webhook_endpoints/we_1")
    route.respond(200, json={"id": "we_1", "object": "webhook_endpoint", "deleted": True})
    assert gateway.delete_webhook_endpoint("we_1") is True
    route.respond(404, json={"error": {"type": "invalid_request_error",
                                       "code": "resource_missing",
                                       "message": "No such webhook endpoint: 'we_1'"}})
    assert gateway.delete_webhook_endpoint("we_1") is False
    route.respond(503, json={"error": {"type": "api_error", "message": "try later"}})
    with pytest.raises(GatewayUnavailable):
        gateway.delete_webhook_endpoint("we_1")
