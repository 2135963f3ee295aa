"""Each failure counts once and every attempt counts, under API version 2026-10-28.endive.

An endive ``invoice.payment_failed`` names no charge: the engine reads it through the invoice's
payments. Stripe keeps one payment intent for all of an invoice's retries, each a new charge, so
each event must resolve to the charge of its own time, not to the latest. Attempts that need the
customer to authenticate are attempts too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
import pytest
import respx

from models import ActionKind
from recovery.stripe_api.gateway import StripeGateway
from recovery.worker.jobs import ingest_inbox
from tests.conftest import START, WEBHOOK_SECRET
from tests.recovery.engine.test_attempts import (
    attempts,
    deliver,
    failed_event,
    live,
    notices,
    run_next_retry,
    the_case,
)
from tests.recovery.stripe_stub import BASE, Decline, StripeStub
from tests.webhooks import payloads as p
from tests.webhooks.signing import signed_request

DAY = timedelta(days=1)
REQUIRES_ACTION = "invoice_payment_intent_requires_action"


@dataclass
class RetriedInvoiceStub(StripeStub):
    """The stub with Stripe's own tries of the invoice on its one payment intent, one charge
    each; the charge list ignores ``created`` filters, as the sandbox's fake Stripe does."""

    tries: list[tuple[str, datetime, Decline]] = field(default_factory=list)
    intent_status: str = "requires_payment_method"

    def install(self, router: respx.MockRouter) -> None:
        router.get(f"{BASE}/v1/charges").mock(side_effect=self._charges)
        super().install(router)

    def _charge(self, charge_id: str, at: datetime, decline: Decline) -> dict:
        charge = self.charge_json(charge_id, decline)
        charge["created"] = int(at.timestamp())
        return charge

    def _payments(self, request):
        self.calls.append("invoice_payments")
        latest = self._charge(*self.tries[-1]) if self.tries else None
        decline = self.tries[-1][2] if self.tries else Decline(None, None, None)
        intent = p.payment_intent_object(
            p.LATEST, payment_method=p.PAYMENT_METHOD_ID, code=decline.failure_code,
            decline_code=decline.decline_code, network_decline_code=decline.network_decline_code,
            overrides={"latest_charge": latest, "status": self.intent_status,
                       **({} if self.tries else {"last_payment_error": None})})
        entry = {"id": "inpay_1", "object": "invoice_payment", "invoice": self.invoice_id,
                 "amount_requested": 2500, "currency": "usd", "created": p.CREATED - 3600,
                 "is_default": True, "livemode": False, "status": "open",
                 "payment": {"type": "payment_intent", "payment_intent": intent}}
        return httpx.Response(200, json={"object": "list", "data": [entry], "has_more": False,
                                         "url": "/v1/invoice_payments"})

    def _charges(self, request):
        self.calls.append("charges")
        charges = [self._charge(*attempt) for attempt in reversed(self.tries)]
        return httpx.Response(200, json={"object": "list", "data": charges, "has_more": False,
                                         "url": "/v1/charges"})

    def _pay(self, request, inv):
        if self.pay_results and self.pay_results[0] == REQUIRES_ACTION:
            self.pay_results.popleft()
            self.pay_keys.append(request.headers["Idempotency-Key"])
            return httpx.Response(400, json={"error": {
                "type": "invalid_request_error", "code": REQUIRES_ACTION,
                "message": "This invoice's payment requires authentication.",
                "payment_intent": {"id": p.PAYMENT_INTENT_ID, "object": "payment_intent",
                                   "status": "requires_action"}}})
        return super()._pay(request, inv)


@pytest.fixture
def stub():
    stripe = RetriedInvoiceStub()
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        stripe.install(router)
        yield stripe


FIRST = Decline("insufficient_funds", network_decline_code="51")
SECOND = Decline("do_not_honor", network_decline_code="05")


@pytest.mark.parametrize("together", [True, False], ids=["one batch", "one at a time"])
def test_two_failures_of_one_invoice_handled_late_are_two_attempts(client, services, stub,
                                                                    together):
    stub.tries = [("ch_try1", START - timedelta(seconds=30), FIRST),
                  ("ch_try2", START + DAY - timedelta(seconds=30), SECOND)]
    events = [failed_event(services, created=START),
              failed_event(services, created=START + DAY, attempt_count=2)]
    services.clock.set(START + DAY + timedelta(hours=1))  # both tries happened before ingest
    for event in events:
        body, headers = signed_request(event, WEBHOOK_SECRET, services.clock.now())
        assert client.post("/webhooks/stripe", content=body, headers=headers).status_code == 200
        if not together:
            ingest_inbox(services)
    ingest_inbox(services)

    assert [(a.stripe_charge_id, a.decline_code, a.attempted_at) for a in attempts(services)] == [
        ("ch_try1", "insufficient_funds", START), ("ch_try2", "do_not_honor", START + DAY)]


def test_a_failure_event_reads_the_charge_of_its_own_time(respx_mock):
    """The gateway's read: the newest charge of the intent at or before the event's time."""
    stub = RetriedInvoiceStub(tries=[("ch_try1", START - timedelta(seconds=30), FIRST),
                                     ("ch_try2", START + DAY, SECOND)])
    stub.install(respx_mock)
    gateway = StripeGateway("sk_test_attempts")
    try:
        early = gateway.latest_attempt(p.INVOICE_ID, at=START)
        late = gateway.latest_attempt(p.INVOICE_ID, at=START + DAY)
        now = gateway.latest_attempt(p.INVOICE_ID)
    finally:
        gateway.close()

    assert (early.charge_id, early.decline.decline_code) == ("ch_try1", "insufficient_funds")
    assert (late.charge_id, late.decline.decline_code) == ("ch_try2", "do_not_honor")
    assert now.charge_id == "ch_try2"
    assert stub.calls.count("charges") == 1  # only the early event needed the charge list


def test_an_engine_retry_that_needs_authentication_is_an_attempt(client, services, stub):
    stub.tries = [("ch_try1", START - timedelta(seconds=30), FIRST)]
    stub.pay_results.append(REQUIRES_ACTION)
    deliver(client, services, failed_event(services))
    run_next_retry(services)

    first, second = attempts(services)
    assert (second.by, second.failure_code, second.decline_class) == (
        "engine", REQUIRES_ACTION, "authentication")
    assert second.card_fingerprint == first.card_fingerprint  # counted against the card
    assert the_case(services).waiting_for == "authentication"
    assert live(services, ActionKind.retry) == []
    assert "authentication_required" in notices(services)


def test_a_failure_waiting_for_authentication_is_an_attempt_and_not_retried(client, services,
                                                                              stub):
    stub.intent_status = "requires_action"  # no charge was made: the customer must act first
    deliver(client, services, failed_event(services))

    (attempt,) = attempts(services)
    assert (attempt.stripe_charge_id, attempt.decline_class) == (None, "authentication")
    assert attempt.stripe_payment_intent_id == p.PAYMENT_INTENT_ID
    assert the_case(services).waiting_for == "authentication"
    assert live(services, ActionKind.retry) == []
