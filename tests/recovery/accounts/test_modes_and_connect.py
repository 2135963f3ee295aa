"""Live and test mode stay apart, and Connect accounts share the platform's one endpoint."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from models import Account, AuditEntry, WebhookEvent
from recovery.accounts.connect import connect_connect_account, connect_with_key
from recovery.accounts.removal import remove_account
from recovery.app import create_app
from recovery.errors import AccountConflict, AccountRejected
from recovery.stripe_api.gateway import PINNED_API_VERSION
from recovery.wiring import account_desk, build_services
from tests.recovery.accounts.conftest import (
    OWN_ACCOUNT,
    OWN_KEY,
    OWN_LIVE_KEY,
    PUBLIC_URL,
    SELLER,
)
from tests.recovery.accounts.fake_accounts import API, PLATFORM_ACCOUNT, PLATFORM_KEY
from tests.recovery.accounts.test_connect import connect_own
from tests.webhooks.signing import signed_request


def connect_seller(desk, account_id: str = "seller", stripe_account_id: str = SELLER):
    return connect_connect_account(desk, account_id=account_id,
                                   stripe_account_id=stripe_account_id, name="",
                                   actor="cli:ops")


def seller_event(event_id: str, livemode: bool = False) -> dict:
    return {"id": event_id, "object": "event", "type": "invoice.paid", "account": SELLER,
            "livemode": livemode, "api_version": PINNED_API_VERSION, "created": 1793973600,
            "data": {"object": {"id": "in_s1", "object": "invoice"}}}


def test_live_and_test_keys_stay_apart(desk, keyed_services, stripe_accounts):
    connect_own(desk)
    calls = len(stripe_accounts.requests)
    with pytest.raises(AccountConflict, match="registered in test mode: a live key"):
        connect_own(desk, key=OWN_LIVE_KEY)
    assert len(stripe_accounts.requests) == calls  # refused before asking Stripe

    live = connect_own(desk, account_id="own-live", key=OWN_LIVE_KEY)
    assert (live.livemode, live.stripe_account_id) == (True, OWN_ACCOUNT)
    with pytest.raises(AccountConflict, match="connected in test mode already, as own"):
        connect_own(desk, account_id="own-again")
    assert sorted(endpoint.url for endpoint in stripe_accounts.live()) == [
        f"{PUBLIC_URL}/webhooks/stripe?account=own",
        f"{PUBLIC_URL}/webhooks/stripe?account=own-live"]
    with keyed_services.sessions() as session:
        modes = session.exec(select(Account.id, Account.livemode)
                             .where(Account.stripe_account_id == OWN_ACCOUNT)).all()
    assert sorted(modes) == [("own", False), ("own-live", True)]


def test_a_live_key_is_not_added_to_an_account_made_in_test_mode(desk, keyed_services,
                                                                 stripe_accounts):
    with keyed_services.sessions() as session:  # an account without Stripe access yet
        session.add(Account(id="shop", created_at=keyed_services.clock.now()))
        session.commit()
    with pytest.raises(AccountConflict, match="test mode"):
        connect_own(desk, account_id="shop", key=OWN_LIVE_KEY)
    assert connect_own(desk, account_id="shop").connection == "key"


def test_connect_accounts_share_the_platform_endpoint_and_route_by_account_and_mode(
        desk, keyed_services, stripe_accounts, clock):
    with TestClient(create_app(keyed_services, run_worker=False)) as client:
        connect_seller(desk)
        connect_seller(desk, "seller-2", "acct_1Seller00001")
        [endpoint] = stripe_accounts.live()
        check = stripe_accounts.account_route.calls[0].request
        assert check.headers["Stripe-Account"] == SELLER
        assert check.headers["Authorization"] == f"Bearer {PLATFORM_KEY}"
        assert (endpoint.connect, endpoint.owner, endpoint.url) == (
            True, PLATFORM_ACCOUNT, f"{PUBLIC_URL}/webhooks/stripe")
        body, headers = signed_request(seller_event("evt_s1"), endpoint.secret, clock.now())
        assert client.post("/webhooks/stripe", content=body, headers=headers).status_code == 200
        live, live_headers = signed_request(seller_event("evt_s2", livemode=True),
                                            endpoint.secret, clock.now())
        assert client.post("/webhooks/stripe", content=live,
                           headers=live_headers).status_code == 400
    with keyed_services.sessions() as session:
        assert session.exec(select(WebhookEvent.account_id)).all() == ["seller"]
        platform = session.get(Account, keyed_services.settings.account_id)
    assert platform.stripe_webhook_endpoint_id == endpoint.id
    assert endpoint.secret[6:] not in platform.connect_webhook_secrets


def test_the_engine_acts_as_the_connect_account(desk, keyed_services, stripe_accounts):
    connect_seller(desk)
    route = stripe_accounts.router.get(f"{API}/v1/customers/cus_9").respond(
        200, json={"id": "cus_9", "object": "customer", "email": "b@example.com"})
    access = keyed_services.accounts.stripe_account_of("seller")
    keyed_services.engine.gateway.customer_contact("cus_9", stripe_account=access)
    request = route.calls.last.request
    assert request.headers["Stripe-Account"] == SELLER
    assert request.headers["Authorization"] == f"Bearer {PLATFORM_KEY}"


def test_the_platform_endpoint_goes_with_the_last_connect_account(desk, keyed_services,
                                                                  stripe_accounts):
    connect_seller(desk)
    connect_seller(desk, "seller-2", "acct_1Seller00001")
    remove_account(desk, account_id="seller", actor="cli:ops")
    assert len(stripe_accounts.live()) == 1
    remove_account(desk, account_id="seller-2", actor="cli:ops")
    assert stripe_accounts.live() == []
    with keyed_services.sessions() as session:
        platform = session.get(Account, keyed_services.settings.account_id)
        actions = session.exec(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert (platform.stripe_webhook_endpoint_id, platform.connect_webhook_secrets) == (None, "")
    assert actions == ["connect_endpoint.create", "account.connect", "account.connect",
                       "account.remove", "account.remove", "connect_endpoint.delete"]


def test_an_account_not_connected_to_the_platform_or_connected_before_is_refused(
        desk, stripe_accounts):
    with pytest.raises(AccountRejected, match="cannot be used with the platform's key.*403"):
        connect_seller(desk, "stranger", "acct_1Stranger000")
    with pytest.raises(AccountRejected, match="not a Stripe account id"):
        connect_seller(desk, "bad", "cus_123")
    connect_seller(desk)
    remove_account(desk, account_id="seller", actor="cli:ops")
    with pytest.raises(AccountConflict, match="as seller \\(removed\\): connect it again"):
        connect_seller(desk, "seller-new")
    assert connect_seller(desk).removed_at is None


def test_the_sandbox_connects_no_account(keyed_settings, clock, stripe_accounts):
    sandbox = build_services(keyed_settings.model_copy(update={"stripe_api_key": None}), clock)
    try:
        with pytest.raises(AccountRejected, match="sandbox"):
            connect_with_key(account_desk(sandbox), account_id="own", key=OWN_KEY, name="",
                             actor="cli:ops")
    finally:
        sandbox.close()
    assert stripe_accounts.requests == []
