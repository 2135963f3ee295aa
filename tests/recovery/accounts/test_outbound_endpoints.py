"""An account's outbound webhook endpoints: the secret is shown once and sealed at rest, each
account sees and removes only its own, and a URL or event type that cannot be used is refused
with a clear error (a 422 through the API)."""

from __future__ import annotations

import pytest
from sqlalchemy import insert
from standardwebhooks.webhooks import Webhook

from models import Account, OutboundEndpoint
from recovery.accounts.outbound_endpoints import (
    check_endpoint_url,
    check_event_types,
    create_endpoint,
    list_endpoints,
    remove_endpoint,
)
from recovery.accounts.secret_box import SecretBox
from recovery.api.errors import status_for
from recovery.errors import InvalidEndpoint, NotFound
from tests.recovery.outbound_flow import add_endpoint, outbound_settings

ALL_TYPES = ("case.opened", "case.recovered", "case.exhausted", "offer.accepted",
             "customer.at_risk")


@pytest.fixture
def settings(settings):
    return outbound_settings(settings)


def add_other_account(services) -> str:
    with services.sessions() as session:
        session.execute(insert(Account).values(id="acct_other", name="other",
                                               created_at=services.clock.now()))
        session.commit()
    return "acct_other"


def test_the_secret_is_returned_once_and_stored_sealed(services):
    created = add_endpoint(services, "https://crm.example.com/hooks", ["case.recovered"])
    assert created.secret.startswith("whsec_")
    Webhook(created.secret)  # a valid Standard Webhooks secret
    with services.sessions() as session:
        stored = session.get(OutboundEndpoint, created.endpoint.id)
    assert stored.secret.startswith("fernet:") and created.secret not in stored.secret
    box = SecretBox.from_settings(services.settings)
    assert box.open(stored.secret).secrets == (created.secret,)
    (listed,) = list_endpoints(services.sessions, services.settings.account_id)
    assert listed == created.endpoint
    assert (listed.url, listed.event_types, listed.enabled) == (
        "https://crm.example.com/hooks", ("case.recovered",), True)
    assert not hasattr(listed, "secret")
    assert add_endpoint(services, "https://erp.example.com/in").secret != created.secret


def test_an_account_sees_and_removes_only_its_own_endpoints(services):
    other = add_other_account(services)
    mine = add_endpoint(services, "https://crm.example.com/hooks")
    assert list_endpoints(services.sessions, other) == []
    with pytest.raises(NotFound):
        remove_endpoint(services.sessions, services.clock, other, mine.endpoint.id)
    remove_endpoint(services.sessions, services.clock, services.settings.account_id,
                    mine.endpoint.id)
    assert list_endpoints(services.sessions, services.settings.account_id) == []
    with pytest.raises(NotFound):  # removed already
        remove_endpoint(services.sessions, services.clock, services.settings.account_id,
                        mine.endpoint.id)


@pytest.mark.parametrize("url, allow_local, why", [
    ("http://crm.example.com/hooks", True, "must be https"),
    ("http://127.0.0.1:9000/hooks", False, "must be https"),
    ("ftp://crm.example.com/hooks", True, "absolute https"),
    ("/hooks", True, "absolute https"),
    ("https://user:pw@crm.example.com/hooks", True, "credentials"),
    ("https://crm.example.com:port/hooks", True, "malformed"),
    ("", True, "1 to 2048"),
    ("https://crm.example.com/" + "a" * 2048, True, "1 to 2048"),
])
def test_unusable_urls_are_refused_with_a_reason(url, allow_local, why):
    with pytest.raises(InvalidEndpoint, match=why) as refused:
        check_endpoint_url(url, allow_local_http=allow_local)
    assert status_for(refused.value) == 422


@pytest.mark.parametrize("url", ["https://crm.example.com/hooks", "http://127.0.0.1:9000/x",
                                 "http://localhost/x", "http://[::1]:8080/x"])
def test_https_and_local_http_when_allowed_are_accepted(url):
    assert check_endpoint_url(f"  {url} ", allow_local_http=True) == url


def test_event_types_are_checked():
    assert check_event_types(None) == ALL_TYPES
    assert check_event_types(["case.recovered", "case.opened", "case.opened"]) == (
        "case.opened", "case.recovered")
    with pytest.raises(InvalidEndpoint, match="unknown event types invoice.paid"):
        check_event_types(["invoice.paid"])
    with pytest.raises(InvalidEndpoint, match="at least one"):
        check_event_types([])


def test_an_unknown_account_gets_no_endpoint(services):
    with pytest.raises(NotFound, match="acct_missing"):
        create_endpoint(services.sessions, SecretBox.from_settings(services.settings),
                        services.clock, "acct_missing", "https://crm.example.com/hooks")
