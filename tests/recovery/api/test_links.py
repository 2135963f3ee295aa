"""The customer-facing link pages through the app: unsubscribe (page and RFC 8058 one-click
POST) and offers; a bad, expired or used token is a 4xx page, never a 500."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from recovery.api.errors import install_error_handlers
from recovery.api.links import build_links_router
from recovery.app import create_app
from recovery.errors import NotFound
from recovery.messaging.links import OFFER, UNSUBSCRIBE, LinkSigner
from recovery.messaging.preferences import preferences_of
from recovery.wiring import build_services

SECRET = "a-test-link-secret-that-is-long-enough"
ONE_CLICK = {"content": b"List-Unsubscribe=One-Click",
             "headers": {"Content-Type": "application/x-www-form-urlencoded"}}


class OfferDesk:
    """Stands in for the offers package's accept function."""

    def __init__(self, failures: list[Exception] | None = None) -> None:
        self.accepted: list[tuple[str, int]] = []
        self.failures = list(failures or [])

    def __call__(self, account_id: str, offer_id: int) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.accepted.append((account_id, offer_id))


@pytest.fixture
def signer(clock):
    return LinkSigner(SECRET, timedelta(days=14), clock=clock)


@pytest.fixture
def desk():
    return OfferDesk()


def links_client(services, signer, clock, accept_offer) -> TestClient:
    app = FastAPI()
    app.include_router(build_links_router(services.sessions, signer, clock, accept_offer))
    install_error_handlers(app)
    return TestClient(app)


@pytest.fixture
def http(services, signer, clock, desk):
    return links_client(services, signer, clock, desk)


def unsubscribed(services, customer_id="cus_1") -> bool:
    with services.sessions() as session:
        return preferences_of(session, services.settings.account_id, customer_id).unsubscribed


def leave_token(services, signer) -> str:
    return signer.make(UNSUBSCRIBE, {"account_id": services.settings.account_id,
                                     "customer_id": "cus_1"})


def test_the_unsubscribe_page_asks_first_and_changes_nothing(http, services, signer):
    token = leave_token(services, signer)
    page = http.get("/links/unsubscribe", params={"t": token})
    assert page.status_code == 200
    assert f'action="/links/unsubscribe?t={token}"' in page.text
    assert 'name="List-Unsubscribe" value="One-Click"' in page.text
    assert not unsubscribed(services)


def test_a_one_click_post_unsubscribes_and_a_repeat_is_fine(http, services, signer):
    token = leave_token(services, signer)
    for _ in range(2):
        answer = http.post(f"/links/unsubscribe?t={token}", **ONE_CLICK)
        assert answer.status_code == 200 and "no longer receive" in answer.text
    assert unsubscribed(services)
    assert not unsubscribed(services, "cus_2")


@pytest.mark.parametrize("method", ["get", "post"])
def test_bad_and_expired_unsubscribe_tokens_get_4xx_pages(http, services, signer, clock,
                                                          method):
    token = leave_token(services, signer)
    send = getattr(http, method)
    for bad in ("", "garbage", token[:-3] + "abc"):
        answer = send(f"/links/unsubscribe?t={bad}")
        assert answer.status_code == 400 and "not valid" in answer.text
    clock.advance(timedelta(days=15))
    answer = send(f"/links/unsubscribe?t={token}")
    assert answer.status_code == 410 and "expired" in answer.text
    assert not unsubscribed(services)


def test_an_offer_link_accepts_the_offer_once(http, services, signer, desk):
    account = services.settings.account_id
    token = signer.make(OFFER, {"account_id": account, "offer_id": 42})
    first = http.get("/links/offer", params={"t": token})
    assert first.status_code == 200 and "Thank you" in first.text
    again = http.get("/links/offer", params={"t": token})
    assert again.status_code == 410 and "already been used" in again.text
    assert desk.accepted == [(account, 42)]
    assert http.get("/links/offer", params={"t": token + "x"}).status_code == 400


def test_a_failed_acceptance_gives_the_link_back(services, signer, clock):
    desk = OfferDesk(failures=[NotFound("no such offer"), RuntimeError("Stripe is down")])
    http = links_client(services, signer, clock, desk)
    token = signer.make(OFFER, {"account_id": services.settings.account_id, "offer_id": 42})
    assert http.get("/links/offer", params={"t": token}).status_code == 404
    assert http.get("/links/offer", params={"t": token}).status_code == 503
    assert http.get("/links/offer", params={"t": token}).status_code == 200
    assert len(desk.accepted) == 1


def test_offers_answer_503_when_no_accept_function_is_wired(services, signer, clock):
    http = links_client(services, signer, clock, None)
    token = signer.make(OFFER, {"account_id": services.settings.account_id, "offer_id": 42})
    assert http.get("/links/offer", params={"t": token}).status_code == 503


def test_the_app_serves_the_links_when_a_link_secret_is_set(settings, clock):
    services = build_services(settings.model_copy(update={"link_secret": SecretStr(SECRET)}),
                              clock)
    try:
        token = services.link_signer.make(UNSUBSCRIBE, {"account_id": "acct_default",
                                                        "customer_id": "cus_1"})
        with TestClient(create_app(services, run_worker=False)) as http:
            assert http.get(f"/links/unsubscribe?t={token}").status_code == 200
            assert http.post("/links/unsubscribe?t=tampered", **ONE_CLICK).status_code == 400
    finally:
        services.close()
