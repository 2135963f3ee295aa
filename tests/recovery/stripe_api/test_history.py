"""The gateway's history reads (the backfill's) against Stripe faked at the HTTP edge (respx)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
import respx

from recovery.errors import GatewayUnavailable
from recovery.stripe_api.gateway import StripeGateway
from tests.recovery.history_stub import (
    DRAFT,
    PAID_BY_CUSTOMER,
    PAID_BY_RETRY,
    PAID_FIRST_TIME,
    STILL_OPEN,
    UNCOLLECTIBLE,
    VOIDED,
    charge_json,
    sample_history,
)
from tests.webhooks import payloads as p

NOW = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
SINCE = NOW - timedelta(days=180)


class CountingLimiter:
    """A rate limiter that lets everything through and counts the tokens taken."""

    def __init__(self) -> None:
        self.taken: list[str] = []

    def acquire(self, account: str) -> None:
        self.taken.append(account)


@pytest.fixture
def limiter():
    return CountingLimiter()


@pytest.fixture
def gateway(limiter):
    built = StripeGateway("sk_test_history", rate_limiter=limiter)
    yield built
    built.close()


@pytest.fixture
def stub():
    history = sample_history(NOW)
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        history.install(router)
        yield history


def listed_ids(pages) -> list[list[str]]:
    return [[invoice.id for invoice in page.invoices] for page in pages]


def test_the_listing_follows_every_page_of_the_window_newest_first(stub, gateway, limiter):
    pages = list(gateway.invoice_history(SINCE, stripe_account="acct_Connected1"))

    assert listed_ids(pages) == [[DRAFT, STILL_OPEN, UNCOLLECTIBLE],
                                 [VOIDED, PAID_BY_CUSTOMER, PAID_BY_RETRY], [PAID_FIRST_TIME]]
    assert [page.has_more for page in pages] == [True, True, False]
    assert stub.requests == ["invoices:", f"invoices:{UNCOLLECTIBLE}", f"invoices:{PAID_BY_RETRY}"]
    # One rate-limit token per page, taken for the account acted as.
    assert limiter.taken == ["acct_Connected1"] * 3


def test_each_page_asks_for_the_window_and_acts_as_the_account(stub, gateway):
    list(gateway.invoice_history(SINCE, stripe_account="acct_Connected1"))

    first, second, _third = stub.sent
    assert first.url.params["created[gte]"] == str(int(SINCE.timestamp()))
    assert first.url.params["limit"] == "100"
    assert "starting_after" not in first.url.params
    assert first.headers["Stripe-Account"] == "acct_Connected1"
    assert second.url.params["created[gte]"] == str(int(SINCE.timestamp()))
    assert second.headers["Stripe-Account"] == "acct_Connected1"


def test_a_listing_resumes_after_a_cursor_without_the_pages_before_it(stub, gateway):
    pages = list(gateway.invoice_history(SINCE, starting_after=VOIDED))

    assert listed_ids(pages) == [[PAID_BY_CUSTOMER, PAID_BY_RETRY, PAID_FIRST_TIME]]
    assert stub.requests == [f"invoices:{VOIDED}"]


def test_past_invoices_are_read_into_our_values(stub, gateway):
    invoices = {invoice.id: invoice for page in gateway.invoice_history(SINCE)
                for invoice in page.invoices}

    paid = invoices[PAID_BY_RETRY]
    assert (paid.status, paid.customer_id, paid.subscription_id) == (
        "paid", p.CUSTOMER_ID, p.SUBSCRIPTION_ID)
    assert (paid.amount_due, paid.currency, paid.attempt_count) == (2500, "usd", 3)
    assert paid.created == NOW - timedelta(days=120)
    assert paid.finished_at == NOW - timedelta(days=115)
    assert (paid.customer_country, paid.interval_days) == ("FR", 30)
    assert invoices[VOIDED].finished_at == NOW - timedelta(days=50)
    assert invoices[UNCOLLECTIBLE].finished_at == NOW - timedelta(days=20)
    assert invoices[STILL_OPEN].finished_at is None
    assert not invoices[DRAFT].attempted


def test_an_invoices_attempts_are_every_charge_of_its_payments_oldest_first(stub, gateway,
                                                                            limiter):
    attempts = gateway.invoice_attempts(PAID_BY_RETRY, stripe_account="acct_Connected1")

    assert [a.details.charge_id for a in attempts] == [
        f"ch_{PAID_BY_RETRY}_1", f"ch_{PAID_BY_RETRY}_2", f"ch_{PAID_BY_RETRY}_3"]
    first, _second, paying = attempts
    assert first.at == NOW - timedelta(days=120)
    assert first.details.decline.decline_code == "insufficient_funds"
    assert first.details.decline.network_decline_code == "51"
    assert first.details.card.fingerprint == p.FINGERPRINT
    assert (first.amount, first.currency, first.settled) == (2500, "usd", True)
    assert paying.details.succeeded and paying.details.decline is None
    assert stub.requests == [f"payments:{PAID_BY_RETRY}", f"charges:pi_{PAID_BY_RETRY}"]
    assert limiter.taken == ["acct_Connected1"] * 2


def test_a_payment_made_as_a_bare_charge_is_read_and_one_outside_stripe_brings_none(gateway):
    charge = charge_json("ch_Legacy0001", None, NOW - timedelta(days=9))
    entries = [
        {"id": "inpay_1", "object": "invoice_payment", "status": "open", "created": 1,
         "payment": {"type": "charge", "charge": "ch_Legacy0001"}},
        {"id": "inpay_2", "object": "invoice_payment", "status": "paid", "created": 2,
         "payment": {"type": "payment_record", "payment_record": "pr_Outside01"}},
    ]
    with respx.mock(base_url="https://api.stripe.com", assert_all_called=True) as router:
        router.get("/v1/invoice_payments").respond(
            200, json={"object": "list", "data": entries, "has_more": False, "url": "/x"})
        router.get("/v1/charges/ch_Legacy0001").respond(200, json=charge)
        attempts = gateway.invoice_attempts("in_Legacy")

    assert [a.details.charge_id for a in attempts] == ["ch_Legacy0001"]
    assert attempts[0].details.decline.decline_code == "insufficient_funds"


def test_an_intents_charges_are_followed_across_pages(gateway):
    older = charge_json("ch_Older", "pi_Many", NOW - timedelta(days=3))
    newer = charge_json("ch_Newer", "pi_Many", NOW - timedelta(days=1), succeeded=True)
    entry = {"id": "inpay_1", "object": "invoice_payment", "status": "paid", "created": 1,
             "payment": {"type": "payment_intent", "payment_intent": "pi_Many"}}
    with respx.mock(base_url="https://api.stripe.com", assert_all_called=True) as router:
        router.get("/v1/invoice_payments").respond(
            200, json={"object": "list", "data": [entry], "has_more": False, "url": "/x"})
        charges = router.get("/v1/charges").mock(side_effect=[
            httpx.Response(200, json={"object": "list", "data": [newer], "has_more": True,
                                      "url": "/v1/charges"}),
            httpx.Response(200, json={"object": "list", "data": [older], "has_more": False,
                                      "url": "/v1/charges"})])
        attempts = gateway.invoice_attempts("in_Many")

    assert [a.details.charge_id for a in attempts] == ["ch_Older", "ch_Newer"]
    assert charges.calls[1].request.url.params["starting_after"] == "ch_Newer"
    assert charges.calls[1].request.url.params["payment_intent"] == "pi_Many"


@pytest.mark.parametrize("failure", [500, 429, httpx.ConnectError("connection reset")])
def test_stripe_trouble_on_a_later_page_comes_after_the_pages_before_it(stub, gateway, failure):
    stub.fail(f"invoices:{UNCOLLECTIBLE}", failure)
    pages = gateway.invoice_history(SINCE)

    assert [invoice.id for invoice in next(pages).invoices] == [DRAFT, STILL_OPEN, UNCOLLECTIBLE]
    with pytest.raises(GatewayUnavailable):
        next(pages)
