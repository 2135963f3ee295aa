"""Connecting an account by its own key: one call checks the key, which is stored sealed and
never shown; a webhook endpoint is registered on the account, and its secret verifies the
account's events. Stripe is faked at the HTTP edge."""

from __future__ import annotations

import logging

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

import models
from models import Account, AuditEntry, WebhookEvent
from recovery.accounts.connect import ENDPOINT_EVENTS, connect_with_key
from recovery.app import create_app
from recovery.errors import AccountRejected
from recovery.stripe_api.access import AccountAccess
from recovery.stripe_api.gateway import PINNED_API_VERSION
from tests.recovery.accounts.conftest import OWN_ACCOUNT, OWN_KEY, PUBLIC_URL
from tests.recovery.accounts.fake_accounts import API
from tests.webhooks.signing import signed_request
from webhooks.parse import HANDLED_EVENT_TYPES

# Stripe's event types (API version 2026-10-28.endive) the engine subscribes to.
STRIPE_EVENT_TYPES = {
    "charge.failed", "customer.source.expiring", "customer.subscription.deleted",
    "customer.updated", "invoice.marked_uncollectible", "invoice.paid",
    "invoice.payment_action_required", "invoice.payment_failed", "invoice.payment_succeeded",
    "invoice.voided", "payment_intent.payment_failed", "payment_method.attached",
    "payment_method.automatically_updated",
}


def connect_own(desk, account_id: str = "own", key: str = OWN_KEY):
    return connect_with_key(desk, account_id=account_id, key=key, name="", actor="cli:ops")


def own_event(event_id: str = "evt_own_1") -> dict:
    return {"id": event_id, "object": "event", "type": "invoice.paid", "livemode": False,
            "api_version": PINNED_API_VERSION, "created": 1793973600,
            "data": {"object": {"id": "in_own_1", "object": "invoice"}}}


def every_stored_value(services) -> str:
    """Every row of every table, as text."""
    with services.db_engine.connect() as connection:
        return "\n".join(repr(tuple(row)) for table in models.metadata.sorted_tables
                         for row in connection.execute(table.select()))


def test_the_key_is_checked_with_one_call_and_the_endpoint_gets_the_handled_events(
        desk, keyed_services, stripe_accounts):
    info = connect_own(desk)

    check = stripe_accounts.account_route.calls
    assert check.call_count == 1
    assert check.last.request.headers["Authorization"] == f"Bearer {OWN_KEY}"
    [endpoint] = stripe_accounts.live()
    assert endpoint.owner == OWN_ACCOUNT and not endpoint.connect
    assert endpoint.url == f"{PUBLIC_URL}/webhooks/stripe?account=own"
    assert endpoint.enabled_events == sorted(HANDLED_EVENT_TYPES) == list(ENDPOINT_EVENTS)
    assert set(endpoint.enabled_events) <= STRIPE_EVENT_TYPES
    assert endpoint.api_version == PINNED_API_VERSION
    assert (info.id, info.connection, info.livemode, info.stripe_account_id,
            info.webhook_endpoint_id, info.name) == (
        "own", "key", False, OWN_ACCOUNT, endpoint.id, "Shop 0000")
    with keyed_services.sessions() as session:
        [audit] = session.exec(select(AuditEntry).where(AuditEntry.action == "account.connect"))
    assert (audit.account_id, audit.actor, audit.before) == ("own", "cli:ops", None)
    assert audit.after["key"] == "sk_test_***" and audit.after["webhook_endpoint_id"] == endpoint.id


def test_the_engine_reaches_the_account_with_its_own_key(desk, keyed_services,
                                                         stripe_accounts):
    connect_own(desk)
    route = stripe_accounts.router.get(f"{API}/v1/invoices/in_own_1").respond(
        200, json={"id": "in_own_1", "object": "invoice", "status": "open", "customer": "cus_1",
                   "currency": "eur", "amount_due": 900, "amount_remaining": 900})
    access = keyed_services.accounts.stripe_account_of("own")
    assert access == AccountAccess(api_key=OWN_KEY)
    keyed_services.engine.gateway.retrieve_invoice("in_own_1", stripe_account=access)
    request = route.calls.last.request
    assert request.headers["Authorization"] == f"Bearer {OWN_KEY}"
    assert "Stripe-Account" not in request.headers


@pytest.mark.parametrize("key", ["pk_test_51OwnPublishableKey0000", "whsec_0123456789abcdef",
                                 "sk_test_", "sk_other_51Abcdefghijkl", ""])
def test_what_is_not_a_secret_or_restricted_key_is_refused_without_a_call(desk,
                                                                         stripe_accounts, key):
    with pytest.raises(AccountRejected, match="secret .* or restricted"):
        connect_own(desk, key=key)
    assert stripe_accounts.requests == []


def test_a_key_stripe_refuses_is_a_clear_refusal_and_nothing_is_kept(desk, keyed_services,
                                                                    stripe_accounts):
    revoked = "sk_test_51RevokedKeyM1n2B3v4C5x6Z7l8K9j0"
    with pytest.raises(AccountRejected, match="this key cannot be used.*401") as refused:
        connect_own(desk, key=revoked)
    assert revoked not in str(refused.value) and revoked[8:] not in str(refused.value)
    assert stripe_accounts.account_route.call_count == 1
    assert stripe_accounts.create_route.call_count == 0
    with keyed_services.sessions() as session:
        assert session.get(Account, "own") is None


def test_the_key_is_readable_in_no_table_and_no_log(desk, keyed_services, stripe_accounts,
                                                    caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="stripe")
    connect_own(desk)
    [endpoint] = stripe_accounts.live()
    stripe_accounts.router.get(f"{API}/v1/customers/cus_1").respond(
        200, json={"id": "cus_1", "object": "customer", "email": "a@example.com"})
    keyed_services.engine.gateway.customer_contact(
        "cus_1", stripe_account=keyed_services.accounts.stripe_account_of("own"))

    stored = every_stored_value(keyed_services)
    logged = caplog.text + "\n".join(repr(vars(record)) for record in caplog.records)
    assert "Request to Stripe api" in logged  # the SDK's own DEBUG lines were captured
    for secret in (OWN_KEY[8:], endpoint.secret[6:]):
        assert secret not in stored
        assert secret not in logged
    with keyed_services.sessions() as session:
        row = session.get(Account, "own")
    assert row.api_key_sealed.startswith("fernet:")
    assert keyed_services.accounts.box.open(row.api_key_sealed).secrets == (OWN_KEY,)


def test_the_endpoints_secret_verifies_the_accounts_events(desk, keyed_services,
                                                          stripe_accounts, clock):
    with TestClient(create_app(keyed_services, run_worker=False)) as client:
        connect_own(desk)
        [endpoint] = stripe_accounts.live()
        body, headers = signed_request(own_event(), endpoint.secret, clock.now())
        assert client.post("/webhooks/stripe?account=own", content=body,
                           headers=headers).status_code == 200
        # Another account's secret, or no account in the URL (the settings' secret): refused.
        forged, forged_headers = signed_request(own_event("evt_2"), "whsec_not_it_0000",
                                                clock.now())
        assert client.post("/webhooks/stripe?account=own", content=forged,
                           headers=forged_headers).status_code == 400
        plain, plain_headers = signed_request(own_event("evt_3"), endpoint.secret, clock.now())
        assert client.post("/webhooks/stripe", content=plain,
                           headers=plain_headers).status_code == 400
    with keyed_services.sessions() as session:
        stored = session.exec(select(WebhookEvent.account_id, WebhookEvent.stripe_event_id)).all()
    assert stored == [("own", "evt_own_1")]


def test_the_endpoint_is_deleted_when_storing_the_connection_fails(desk, keyed_services,
                                                                  stripe_accounts,
                                                                  monkeypatch):
    def broken(*_args, **_kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr("recovery.accounts.connect.record_change", broken)
    with pytest.raises(RuntimeError):
        connect_own(desk)
    assert stripe_accounts.create_route.call_count == 1
    assert stripe_accounts.live() == []
    with keyed_services.sessions() as session:
        assert session.get(Account, "own") is None


def test_stripe_unreachable_while_checking_leaves_nothing(desk, keyed_services,
                                                          stripe_accounts):
    stripe_accounts.account_route.mock(side_effect=httpx.ConnectError("down"))
    with pytest.raises(Exception, match="Stripe is unavailable"):
        connect_own(desk)
    assert stripe_accounts.create_route.call_count == 0
