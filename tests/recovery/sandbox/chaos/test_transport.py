"""Chaotic Stripe calls through the engine's real gateway: whatever answer is lost, a pay call
charges once; the kill hook fires only around pay calls; faults follow the seeded plan."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap
from collections import Counter

import httpx
import pytest
import stripe

from recovery.errors import GatewayUnavailable
from recovery.runtime.clock import VirtualClock
from recovery.sandbox.chaos.plan import API_FAULTS, ChaosPlan
from recovery.sandbox.chaos.transport import ChaoticTransport, planned_fault
from recovery.sandbox.fake_stripe.fake import FakeStripe
from recovery.stripe_api.gateway import StripeGateway
from recovery.stripe_api.results import Refusal
from tests.recovery.sandbox.fake_stripe.test_fake import (
    NSF,
    SECRET,
    START,
    ScriptedWorld,
    subscriber,
)

PAY = "POST /v1/invoices/{id}/pay"
AFTER = ("server_error_after", "timeout_after", "reset_after")


class Killed(BaseException):
    """Stands in for SIGKILL: nothing in the SDK or the gateway may catch it."""


def kill() -> None:
    raise Killed


def only(fault: str, share: float = 0.5, seed: int = 3) -> ChaosPlan:
    return dataclasses.replace(ChaosPlan.calm(seed=seed), **{f"{fault}_share": share})


def key_for(plan: ChaosPlan, path: str, faults: list[str | None], *,
            incarnations=None) -> str:
    """An idempotency key whose successive sends meet ``faults`` (one per send; with
    ``incarnations``, the first send of each process incarnation)."""
    for n in range(10_000):
        key = f"action-{n}"
        if incarnations is None:
            got = [planned_fault(plan, "POST", path, key, seen=i) for i in range(len(faults))]
        else:
            got = [planned_fault(plan, "POST", path, key, incarnation=i) for i in incarnations]
        if got == faults:
            return key
    raise AssertionError("no key found")


class Stage:
    """A fake Stripe with one declined renewal (Stripe's own first attempt) to pay."""

    def __init__(self) -> None:
        self.clock = VirtualClock(START)
        self.world = ScriptedWorld(NSF)
        self.fake = FakeStripe(self.world, self.clock, webhook_secret=SECRET,
                               deliver=lambda body, header: None, hold_webhooks=True)
        self.fake.add_subscriber(subscriber())
        self.invoice_id = self.fake.renew("alice")
        self.path = f"/v1/invoices/{self.invoice_id}/pay"

    def gateway(self, plan: ChaosPlan, *, incarnation=0, retries=0):
        transport = ChaoticTransport(self.fake.transport(), plan, kill=kill,
                                     incarnation=incarnation)
        return StripeGateway("sk_test_sandbox", transport=transport,
                             max_network_retries=retries), transport

    def paid_charges(self):
        return [entry for entry in self.fake.audit if entry.paid]


@pytest.fixture
def stage() -> Stage:
    return Stage()


@pytest.mark.parametrize("fault", AFTER)
def test_a_lost_answer_to_a_pay_call_still_charges_once(stage, fault):
    plan = only(fault)
    gateway, transport = stage.gateway(plan)
    key = key_for(plan, stage.path, [fault, None])
    with pytest.raises(GatewayUnavailable) as raised:
        gateway.pay_invoice(stage.invoice_id, idempotency_key=key)
    # Stripe keeps a 5xx under its key, so the engine takes a new key after one.
    assert raised.value.key_spent is (fault == "server_error_after")
    assert len(stage.paid_charges()) == 1  # the charge went through before the answer was lost
    assert stage.fake.invoice(stage.invoice_id)["status"] == "paid"

    replayed = gateway.pay_invoice(stage.invoice_id, idempotency_key=key)
    assert replayed.paid
    fresh = gateway.pay_invoice(stage.invoice_id,
                                idempotency_key=key_for(plan, stage.path, [None]))
    assert not fresh.paid and fresh.refusal is Refusal.invoice_not_open
    assert len(stage.paid_charges()) == 1 and len(stage.world.calls) == 2
    assert stage.fake.api_calls()[PAY] == 3
    assert transport.counts[fault] == 1 and transport.counts["pay_requests"] == 3


@pytest.mark.parametrize("fault", AFTER)
def test_the_sdk_retries_with_the_same_key_and_gets_the_saved_answer(stage, fault,
                                                                      monkeypatch):
    monkeypatch.setattr(stripe.HTTPClient, "_sleep_time_seconds", lambda self, n: 0.0)
    plan = only(fault)
    gateway, transport = stage.gateway(plan, retries=2)
    key = key_for(plan, stage.path, [fault, None])
    outcome = gateway.pay_invoice(stage.invoice_id, idempotency_key=key)
    # Had the retry used another key, the fake would have refused the now-paid invoice.
    assert outcome.paid
    assert stage.fake.api_calls()[PAY] == 2 and transport.counts[fault] == 1
    assert len(stage.paid_charges()) == 1 and len(stage.world.calls) == 2


@pytest.mark.parametrize(("fault", "error", "spent"), [
    ("rate_limited", stripe.RateLimitError, False),
    ("server_error_before", stripe.APIError, True),
    ("reset_before", stripe.APIConnectionError, False),
])
def test_a_fault_before_the_request_charges_nothing(stage, fault, error, spent):
    plan = only(fault)
    gateway, transport = stage.gateway(plan)
    key = key_for(plan, stage.path, [fault, None])
    with pytest.raises(GatewayUnavailable) as raised:
        gateway.pay_invoice(stage.invoice_id, idempotency_key=key)
    assert isinstance(raised.value.__cause__, error)
    assert raised.value.key_spent is spent
    assert PAY not in stage.fake.api_calls() and not stage.paid_charges()
    if fault != "reset_before":
        sdk_error = raised.value.__cause__
        assert sdk_error.http_status == {"rate_limited": 429}.get(fault, 500)
        assert sdk_error.request_id.startswith("req_") and sdk_error.error.type
    assert gateway.pay_invoice(stage.invoice_id, idempotency_key=key).paid
    assert len(stage.paid_charges()) == 1 and transport.counts[fault] == 1


def test_kill_before_the_charge_sends_nothing_and_only_pay_calls_die(stage):
    gateway, transport = stage.gateway(only("kill_before_charge", 1.0))
    assert gateway.retrieve_invoice(stage.invoice_id).status == "open"
    with pytest.raises(Killed):
        gateway.pay_invoice(stage.invoice_id, idempotency_key="action-1")
    assert PAY not in stage.fake.api_calls() and not stage.paid_charges()
    assert transport.counts["kill_before_charge"] == 1 and transport.counts["requests"] == 2


def test_kill_after_the_charge_and_a_restart_with_the_same_key_charge_once(stage):
    plan = only("kill_after_charge")
    key = key_for(plan, stage.path, ["kill_after_charge", None], incarnations=[0, 1])
    first, transport = stage.gateway(plan, incarnation=0)
    with pytest.raises(Killed):
        first.pay_invoice(stage.invoice_id, idempotency_key=key)
    assert len(stage.paid_charges()) == 1 and transport.counts["kill_after_charge"] == 1
    restarted, _ = stage.gateway(plan, incarnation=1)
    assert restarted.pay_invoice(stage.invoice_id, idempotency_key=key).paid
    assert len(stage.paid_charges()) == 1 and stage.fake.api_calls()[PAY] == 2


def test_faults_follow_the_plan_and_repeat_with_the_seed():
    def run(seed: int, requests: int = 4000) -> list[str]:
        plan = ChaosPlan(seed=seed)
        transport = ChaoticTransport(httpx.MockTransport(lambda r: httpx.Response(200)),
                                     plan, kill=kill)
        seen = []
        with httpx.Client(transport=transport, base_url="http://fake.stripe") as client:
            for n in range(requests):
                try:
                    seen.append(str(client.get(f"/v1/charges/ch_{n % 50}").status_code))
                except httpx.HTTPError as err:
                    seen.append(type(err).__name__)
        assert transport.counts["requests"] == requests
        assert not transport.counts["kill_before_charge"] + transport.counts["kill_after_charge"]
        if requests >= 4000:
            for name in API_FAULTS:
                share = getattr(plan, f"{name}_share")
                assert transport.counts[name] / requests == pytest.approx(share, abs=0.012)
        return seen

    outcomes = run(17)
    tally = Counter(outcomes)
    assert {"429", "500", "ConnectError", "ReadTimeout", "RemoteProtocolError"} <= set(tally)
    assert run(17) == outcomes and run(18, 300) != outcomes[:300]


def test_the_default_kill_is_sigkill():
    script = textwrap.dedent("""
        import dataclasses, httpx
        from recovery.sandbox.chaos.plan import ChaosPlan
        from recovery.sandbox.chaos.transport import ChaoticTransport
        plan = dataclasses.replace(ChaosPlan.calm(seed=1), kill_before_charge_share=1.0)
        inner = httpx.MockTransport(lambda request: httpx.Response(200))
        with httpx.Client(transport=ChaoticTransport(inner, plan)) as client:
            client.post("http://fake.stripe/v1/invoices/in_1/pay")
        print("survived")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == -9 and "survived" not in done.stdout
