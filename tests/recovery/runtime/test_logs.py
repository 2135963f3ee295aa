"""At DEBUG, no card data and no secret reaches the logs, whoever logs it and whoever reads it."""

from __future__ import annotations

import logging

import pytest
import respx

from recovery.runtime.logs import configure_logging, mask_secrets
from recovery.stripe_api.gateway import StripeGateway

API = "https://api.stripe.com"
API_KEY = "sk_test_51LogsTestKeyAbcdefGhijkl"
CLIENT_SECRET = "pi_3LogsIntent0001_secret_Dm43xiq1k0ywrRRjDoi8y1gkM"
CARD_NUMBER = "4242424242424242"


def payment_method() -> dict:
    return {
        "id": "pm_1LogsCard", "object": "payment_method", "type": "card", "customer": "cus_1",
        "card": {"brand": "visa", "country": "US", "exp_month": 8, "exp_year": 2031,
                 "fingerprint": "AOB934RVNwzk6xtn", "funding": "credit", "last4": "4242",
                 "wallet": {"dynamic_last4": "9876", "type": "apple_pay"}},
    }


def paid_invoice() -> dict:
    return {"id": "in_1", "object": "invoice", "status": "paid", "amount_due": 2500,
            "amount_paid": 2500, "currency": "usd", "attempt_count": 2,
            # Stripe echoes secrets in some objects; none of these may be logged.
            "metadata": {"intent_secret": CLIENT_SECRET, "pan_typed_by_mistake": CARD_NUMBER,
                         "endpoint_secret": "whsec_abcdef0123456789abcdef"},
            "client_secret": CLIENT_SECRET}


@pytest.fixture
def debug_logging(capsys, caplog):
    """The engine's logging at DEBUG (its handler writing to ``capsys``), with pytest's capture
    still listening on the root."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("DEBUG")
    root.addHandler(caplog.handler)
    caplog.set_level(logging.DEBUG)
    yield caplog
    root.handlers[:] = handlers
    root.setLevel(level)


def test_stripe_debug_logs_of_real_gateway_calls_carry_no_card_data_or_secret(debug_logging,
                                                                             capsys):
    gateway = StripeGateway(API_KEY)
    with respx.mock(base_url=API, assert_all_called=True) as stripe_api:
        stripe_api.get("/v1/payment_methods/pm_1LogsCard").respond(200, json=payment_method())
        stripe_api.post("/v1/invoices/in_1/pay").respond(200, json=paid_invoice())
        card = gateway.payment_method_card("pm_1LogsCard")
        gateway.pay_invoice("in_1", idempotency_key="recovery:1", payment_method_id="pm_1LogsCard")
    gateway.close()
    assert card is not None and card.fingerprint == "AOB934RVNwzk6xtn"  # the call itself worked

    stripe_records = [r for r in debug_logging.records if r.name == "stripe"]
    assert any("API response body" in r.getMessage() for r in stripe_records)  # bodies logged
    ours = capsys.readouterr().err
    assert "API response body" in ours
    captured = debug_logging.text + ours  # pytest's capture and our handler
    for leaked in ("4242", "9876", "AOB934RVNwzk6xtn", "2031", CLIENT_SECRET,
                   "Dm43xiq1k0ywrRRjDoi8y1gkM", CARD_NUMBER, "whsec_abcdef", API_KEY):
        assert leaked not in captured, leaked
    assert "pm_1LogsCard" in captured and "in_1" in captured  # ids stay readable


def test_our_own_records_are_masked_by_our_handler(debug_logging, capsys):
    logging.getLogger("recovery.accounts").debug(
        "secrets %s", "whsec_test_primary_secret_0123456789",
        extra={"key": "rk_live_abcdef123456", "card": "4000 0566 5566 5556"})
    err = capsys.readouterr().err
    assert "secrets whsec_***" in err
    for leaked in ("primary_secret", "rk_live_abcdef", "5556"):
        assert leaked not in err, leaked


@pytest.mark.parametrize(("text", "expected"), [
    ('{"last4": "4242", "exp_year": 2031}', '{"last4": "***", "exp_year": "***"}'),
    ("card%5Bnumber%5D=4242424242424242&card%5Bcvc%5D=123",
     "card%5Bnumber%5D=***&card%5Bcvc%5D=***"),
    ("client_secret=seti_1Abc_secret_Xyz&x=1", "client_secret=***&x=1"),
    ("id=in_1PgafyB7WZ01zgkW amount=2500 created=1793973600 invoice=in_123456789012345",
     "id=in_1PgafyB7WZ01zgkW amount=2500 created=1793973600 invoice=in_123456789012345"),
])
def test_masking_keeps_what_is_not_sensitive(text, expected):
    assert mask_secrets(text) == expected
