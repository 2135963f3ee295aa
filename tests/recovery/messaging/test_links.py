"""Signed links reject tampering, expiry and reuse (single-use purposes), on both databases."""

from __future__ import annotations

import threading
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from recovery.errors import LinkRejected
from recovery.messaging.links import OFFER, UNSUBSCRIBE, LinkSigner, offer_url, unsubscribe_url
from recovery.runtime.db import transaction

SECRET = "a-test-link-secret-that-is-long-enough"


@pytest.fixture
def signer(clock):
    return LinkSigner(SECRET, timedelta(days=14), clock=clock)


@pytest.fixture
def account(services):
    return services.settings.account_id


def opened(services, signer, purpose, token) -> dict:
    with transaction(services.sessions) as session:
        return signer.open(purpose, token, session=session)


def rejection(services, signer, purpose, token) -> str:
    with pytest.raises(LinkRejected) as raised:
        opened(services, signer, purpose, token)
    return raised.value.reason


def test_a_genuine_token_opens_to_its_payload(services, signer, account):
    token = signer.make(OFFER, {"account_id": account, "offer_id": 7})
    assert opened(services, signer, OFFER, token) == {"account_id": account, "offer_id": 7}


def test_tampering_is_rejected(services, signer, account):
    token = signer.make(OFFER, {"account_id": account, "offer_id": 7})
    payload, timestamp, signature = token.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    forged = signer.make(OFFER, {"account_id": account, "offer_id": 8}).split(".")[0]
    for bad in (f"{payload}.{timestamp}.{flipped}", f"{forged}.{timestamp}.{signature}",
                token[:-1], "", "not-a-token", token + "x"):
        assert rejection(services, signer, OFFER, bad) == "invalid"
    # Another secret's token, and this secret's token for another purpose.
    other = LinkSigner("another-secret-that-is-long-enough-too", timedelta(days=1))
    assert rejection(services, signer, OFFER,
                     other.make(OFFER, {"account_id": account, "offer_id": 7})) == "invalid"
    assert rejection(services, signer, OFFER, signer.make(
        UNSUBSCRIBE, {"account_id": account, "customer_id": "cus_1"})) == "invalid"


def test_a_token_expires_after_its_lifetime_by_the_engines_clock(services, signer, account,
                                                                 clock):
    token = signer.make(OFFER, {"account_id": account, "offer_id": 7})
    clock.advance(timedelta(days=14, seconds=1))
    assert rejection(services, signer, OFFER, token) == "expired"
    fresh = signer.make(OFFER, {"account_id": account, "offer_id": 7})
    clock.advance(timedelta(days=14))  # exactly its lifetime: still good
    assert opened(services, signer, OFFER, fresh)["offer_id"] == 7


def test_an_offer_link_works_once_and_an_unsubscribe_link_until_it_expires(services, signer,
                                                                            account):
    offer = signer.make(OFFER, {"account_id": account, "offer_id": 7})
    opened(services, signer, OFFER, offer)
    assert rejection(services, signer, OFFER, offer) == "used"
    leave = signer.make(UNSUBSCRIBE, {"account_id": account, "customer_id": "cus_1"})
    for _ in range(2):  # RFC 8058: the mailbox provider may repeat the POST
        assert opened(services, signer, UNSUBSCRIBE, leave)["customer_id"] == "cus_1"


def test_a_use_not_committed_does_not_count_and_a_released_use_can_be_repeated(
        services, signer, account):
    token = signer.make(OFFER, {"account_id": account, "offer_id": 7})
    with pytest.raises(RuntimeError), transaction(services.sessions) as session:
        signer.open(OFFER, token, session=session)
        raise RuntimeError("the work after the click failed")
    opened(services, signer, OFFER, token)
    with transaction(services.sessions) as session:
        signer.release(OFFER, token, session=session)
    assert opened(services, signer, OFFER, token)["offer_id"] == 7


def test_of_two_concurrent_clicks_only_one_passes(services, signer, account):
    token = signer.make(OFFER, {"account_id": account, "offer_id": 7})
    first_inserted, outcomes = threading.Event(), {}

    def first_click():
        with transaction(services.sessions) as session:
            signer.open(OFFER, token, session=session)
            first_inserted.set()
            # Hold the use uncommitted while the second click tries.
            threading.Event().wait(0.3)
        outcomes["first"] = "opened"

    def second_click():
        first_inserted.wait(5)
        try:
            opened(services, signer, OFFER, token)
            outcomes["second"] = "opened"
        except LinkRejected as rejected:
            outcomes["second"] = rejected.reason

    threads = [threading.Thread(target=first_click), threading.Thread(target=second_click)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert outcomes == {"first": "opened", "second": "used"}


def test_urls_carry_the_token_under_the_public_base_url(signer):
    url = offer_url(signer, "https://pay.example.com/", "acct_1", 7)
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "pay.example.com",
                                                        "/links/offer")
    assert signer.read(OFFER, parse_qs(parts.query)["t"][0]) == {"account_id": "acct_1",
                                                                 "offer_id": 7}
    leave = unsubscribe_url(signer, "https://pay.example.com", "acct_1", "cus_1")
    assert urlsplit(leave).path == "/links/unsubscribe"


def test_bad_construction_is_refused():
    with pytest.raises(ValueError, match="32 characters"):
        LinkSigner("short", timedelta(days=1))
    signer = LinkSigner(SECRET, timedelta(days=1))
    with pytest.raises(ValueError, match="account_id"):
        signer.make(OFFER, {"offer_id": 7})
    with pytest.raises(ValueError, match="purpose"):
        signer.make("download", {"account_id": "acct_1"})
