"""The sandbox's fake Stripe, checked through the Stripe SDK's own types and signature check."""

from __future__ import annotations

import json
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import stripe

from recovery.runtime.clock import VirtualClock
from recovery.sandbox.fake_stripe.fake import FakeStripe
from recovery.sandbox.world.contract import Card, ChargeResult, Subscriber

SECRET = "whsec_fake_stripe_tests_0123456789"
START = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
CARD = Card("fp_visa_1", "visa", "credit", "US", 8, 2028, "4242")
NEW_CARD = Card("fp_visa_2", "visa", "debit", "US", 9, 2031, "1881")
PAID = ChargeResult(paid=True)
NSF = ChargeResult(paid=False, failure_code="card_declined", decline_code="insufficient_funds",
                   advice_code="try_again_later", network_decline_code="51",
                   network_advice_code="24")
AUTH = ChargeResult(paid=False, failure_code="authentication_required",
                    decline_code="authentication_required", network_decline_code="1A")


class ScriptedWorld:
    """Answers charges from a script (then PAID) and records every call."""

    def __init__(self, *results: ChargeResult) -> None:
        self.script = deque(results)
        self.calls: list[tuple] = []

    def subscribers(self):
        return []

    def charge(self, subscriber_id, invoice_id, card_fingerprint, amount, currency, at):
        self.calls.append((subscriber_id, invoice_id, card_fingerprint, amount, currency, at))
        return self.script.popleft() if self.script else PAID

    def actions(self, start, end):
        return []

    def message(self, message):
        return None


def subscriber(sid: str = "alice", amount: int = 2500) -> Subscriber:
    return Subscriber(id=sid, email=f"{sid}@example.com", timezone="Europe/Paris", amount=amount,
                      currency="eur", interval_days=30, first_renewal_at=START,
                      created_at=START - timedelta(days=200), card=CARD)


class Sandbox:
    def __init__(self, *results: ChargeResult, retry_days=(), emit_success_events=True):
        self.clock = VirtualClock(START)
        self.world = ScriptedWorld(*results)
        self.delivered: list[tuple[str, str]] = []
        self.fake = FakeStripe(
            self.world, self.clock, webhook_secret=SECRET,
            deliver=lambda body, sig: self.delivered.append((body, sig)),
            stripe_retry_days=retry_days, emit_success_events=emit_success_events)
        self.ids = self.fake.add_subscriber(subscriber())
        self.client = sdk_client(self.fake)

    def events(self) -> list[stripe.Event]:
        # Signed with virtual time: the age check (tolerance) is the engine's, on its own clock.
        return [stripe.Webhook.construct_event(body, sig, SECRET, tolerance=None)
                for body, sig in self.delivered]

    def types(self) -> list[str]:
        return [event.type for event in self.events()]


def sdk_client(fake: FakeStripe) -> stripe.StripeClient:
    http_client = stripe.HTTPXClient(allow_sync_methods=True)
    # HTTPXClient takes no transport argument; it keeps its httpx.Client in ``_client``, so the
    # in-process transport goes in there (the same seam the engine's gateway uses).
    http_client._client.close()
    http_client._client = httpx.Client(transport=fake.transport())
    return stripe.StripeClient("sk_test_sandbox", http_client=http_client,
                               base_addresses={"api": "http://fake.stripe"})


def test_declined_renewal_reads_as_endive_invoice_and_signed_events():
    box = Sandbox(NSF, retry_days=(3,))
    invoice_id = box.fake.renew("alice")

    invoice = box.client.v1.invoices.retrieve(invoice_id)
    assert isinstance(invoice, stripe.Invoice)
    assert (invoice.status, invoice.attempt_count, invoice.attempted) == ("open", 1, True)
    assert invoice.billing_reason == "subscription_cycle" and invoice.auto_advance is True
    assert (invoice.amount_due, invoice.amount_paid, invoice.amount_remaining) == (2500, 0, 2500)
    assert invoice.next_payment_attempt == int((START + timedelta(days=3)).timestamp())
    assert invoice.parent.subscription_details.subscription == box.ids.subscription_id
    assert invoice.hosted_invoice_url.startswith("https://")
    assert invoice.status_transitions.finalized_at == int(START.timestamp())
    for removed in ("charge", "payment_intent", "paid", "subscription"):
        assert removed not in invoice
    assert box.world.calls == [("alice", invoice_id, "fp_visa_1", 2500, "eur", START)]

    events = box.events()
    assert [e.type for e in events] == [
        "charge.failed", "invoice.payment_failed", "customer.subscription.updated"]
    charge = events[0].data.object
    assert isinstance(charge, stripe.Charge) and charge.status == "failed"
    assert (charge.outcome.type, charge.outcome.reason) == ("issuer_declined", "insufficient_funds")
    assert charge.outcome.network_decline_code == "51"
    assert charge.outcome.network_advice_code == "24"
    assert charge.payment_method_details.card.fingerprint == "fp_visa_1"
    failed = events[1]
    assert isinstance(failed.data.object, stripe.Invoice)
    assert failed.api_version == "2026-10-28.endive" and failed.request.id is None
    assert events[2].data.previous_attributes.status == "active"
    assert box.client.v1.subscriptions.retrieve(box.ids.subscription_id).status == "past_due"


def test_pay_decline_is_a_card_error_with_network_codes():
    box = Sandbox(NSF, NSF)
    invoice_id = box.fake.renew("alice")
    box.delivered.clear()

    with pytest.raises(stripe.CardError) as raised:
        box.client.v1.invoices.pay(invoice_id, {"off_session": True},
                                   {"idempotency_key": "pay:1"})
    error = raised.value.error
    assert raised.value.http_status == 402 and raised.value.code == "card_declined"
    assert (error.decline_code, error.advice_code) == ("insufficient_funds", "try_again_later")
    assert (error.network_decline_code, error.network_advice_code) == ("51", "24")
    assert error.charge.startswith("ch_")
    assert isinstance(error.payment_intent, stripe.PaymentIntent)
    assert error.payment_intent.last_payment_error.charge == error.charge
    # Manual payments do not move Stripe's own attempt counter.
    assert box.client.v1.invoices.retrieve(invoice_id).attempt_count == 1
    events = box.events()
    assert [e.type for e in events] == ["charge.failed", "invoice.payment_failed"]
    assert events[1].request.idempotency_key == "pay:1"


def test_same_idempotency_key_replays_without_charging_again():
    box = Sandbox(NSF, NSF)
    invoice_id = box.fake.renew("alice")
    params, options = {"off_session": True}, {"idempotency_key": "retry:in:2"}
    for _ in range(2):
        with pytest.raises(stripe.CardError) as raised:
            box.client.v1.invoices.pay(invoice_id, params, options)
        assert raised.value.error.decline_code == "insufficient_funds"
    assert len(box.world.calls) == 2  # the renewal's attempt and one pay
    assert box.types().count("charge.failed") == 2
    with pytest.raises(stripe.IdempotencyError):
        box.client.v1.invoices.pay(invoice_id, {"payment_method": box.ids.payment_method_id},
                                   options)


def test_paid_invoice_cannot_be_paid_again_and_unknown_ids_are_404():
    box = Sandbox(NSF)
    invoice_id = box.fake.renew("alice")
    paid = box.client.v1.invoices.pay(invoice_id, {"off_session": True})
    assert paid.status == "paid" and paid.amount_remaining == 0
    assert box.types()[-3:] == [
        "invoice.paid", "invoice.payment_succeeded", "customer.subscription.updated"]
    with pytest.raises(stripe.InvalidRequestError, match="Invoice is already paid"):
        box.client.v1.invoices.pay(invoice_id, {"off_session": True})
    with pytest.raises(stripe.InvalidRequestError) as missing:
        box.client.v1.invoices.retrieve("in_missing")
    assert missing.value.http_status == 404 and missing.value.code == "resource_missing"


def test_attempt_details_through_invoice_payments_intents_and_charges():
    box = Sandbox(NSF)
    invoice_id = box.fake.renew("alice")
    listed = box.client.v1.invoice_payments.list(
        {"invoice": invoice_id, "expand": ["data.payment.payment_intent"]})
    payment = listed.data[0]
    assert isinstance(payment, stripe.InvoicePayment) and payment.status == "open"
    assert payment.payment.type == "payment_intent"
    intent = payment.payment.payment_intent
    assert isinstance(intent, stripe.PaymentIntent)
    assert intent.status == "requires_payment_method"

    expanded = box.client.v1.payment_intents.retrieve(intent.id, {"expand": ["latest_charge"]})
    charge = expanded.latest_charge
    assert isinstance(charge, stripe.Charge) and charge.failure_code == "card_declined"
    assert charge.outcome.network_status == "declined_by_network"
    again = box.client.v1.charges.retrieve(charge.id)
    assert isinstance(again, stripe.Charge) and again.payment_intent == intent.id
    charges = box.client.v1.charges.list({"customer": box.ids.customer_id})
    assert [c.id for c in charges.data] == [charge.id]
    assert [c["id"] for c in box.fake.charges_for(invoice_id)] == [charge.id]


def test_authentication_required_asks_for_action():
    box = Sandbox(AUTH)
    invoice_id = box.fake.renew("alice")
    assert box.types() == ["charge.failed", "invoice.payment_failed",
                           "invoice.payment_action_required", "customer.subscription.updated"]
    payment = box.client.v1.invoice_payments.list({"invoice": invoice_id}).data[0]
    intent = box.client.v1.payment_intents.retrieve(payment.payment.payment_intent)
    assert intent.status == "requires_action"
    assert intent.last_payment_error.code == "authentication_required"


def test_stripe_retry_schedule_runs_on_tick():
    box = Sandbox(NSF, NSF, NSF, retry_days=(1, 3))
    invoice_id = box.fake.renew("alice")
    assert box.fake.tick() == 0
    box.clock.advance(timedelta(days=1))
    assert box.fake.tick() == 1
    invoice = box.fake.invoice(invoice_id)
    assert invoice["attempt_count"] == 2
    assert invoice["next_payment_attempt"] == int((START + timedelta(days=3)).timestamp())
    box.clock.advance(timedelta(days=2))
    assert box.fake.tick() == 1
    invoice = box.fake.invoice(invoice_id)
    assert invoice["attempt_count"] == 3 and invoice["next_payment_attempt"] is None
    box.clock.advance(timedelta(days=30))
    assert box.fake.tick() == 0 and len(box.world.calls) == 3


def test_auto_advance_off_stops_stripe_retries():
    box = Sandbox(NSF, retry_days=(1,))
    invoice_id = box.fake.renew("alice")
    updated = box.client.v1.invoices.update(invoice_id, {"auto_advance": False})
    assert updated.auto_advance is False and updated.next_payment_attempt is None
    box.clock.advance(timedelta(days=2))
    assert box.fake.tick() == 0 and len(box.world.calls) == 1
    event = box.events()[-1]
    assert event.type == "invoice.updated"
    assert event.data.previous_attributes.auto_advance is True


def test_successful_retry_recovers_the_subscription():
    box = Sandbox(NSF, PAID, retry_days=(2,))
    invoice_id = box.fake.renew("alice")
    box.clock.advance(timedelta(days=2))
    assert box.fake.tick() == 1
    assert box.fake.invoice(invoice_id)["status"] == "paid"
    assert box.types()[-3:] == [
        "invoice.paid", "invoice.payment_succeeded", "customer.subscription.updated"]
    assert box.fake.subscription(box.ids.subscription_id)["status"] == "active"


def test_healthy_renewal_events_are_optional():
    quiet = Sandbox(emit_success_events=False)
    assert quiet.fake.invoice(quiet.fake.renew("alice"))["status"] == "paid"
    assert quiet.delivered == []
    loud = Sandbox()
    loud.fake.renew("alice")
    assert loud.types() == ["invoice.paid"]


def test_card_changes_by_updater_and_by_customer():
    box = Sandbox()
    box.fake.update_card("alice", NEW_CARD, automatic=True)
    method = box.client.v1.payment_methods.retrieve(box.ids.payment_method_id)
    assert isinstance(method, stripe.PaymentMethod)
    assert (method.card.fingerprint, method.card.last4) == ("fp_visa_2", "1881")
    assert box.events()[-1].type == "payment_method.automatically_updated"

    box.fake.update_card("alice", CARD, automatic=False)
    events = box.events()[1:]
    assert [e.type for e in events] == [
        "payment_method.attached", "customer.updated", "customer.subscription.updated"]
    new_id = events[0].data.object.id
    previous = events[1].data.previous_attributes.invoice_settings.default_payment_method
    assert previous == box.ids.payment_method_id
    customer = box.client.v1.customers.retrieve(
        box.ids.customer_id, {"expand": ["invoice_settings.default_payment_method"]})
    assert isinstance(customer, stripe.Customer)
    assert isinstance(customer.invoice_settings.default_payment_method, stripe.PaymentMethod)
    assert customer.invoice_settings.default_payment_method.id == new_id
    methods = box.client.v1.customers.payment_methods.list(box.ids.customer_id)
    assert [m.id for m in methods.auto_paging_iter()] == [new_id, box.ids.payment_method_id]


def test_engine_updates_customer_and_subscription():
    box = Sandbox()
    box.fake.update_card("alice", NEW_CARD, automatic=False)
    new_id = box.fake.subscription(box.ids.subscription_id)["default_payment_method"]
    customer = box.client.v1.customers.update(
        box.ids.customer_id, {"invoice_settings": {"default_payment_method": new_id}})
    assert customer.invoice_settings.default_payment_method == new_id
    coupon = box.client.v1.coupons.create(
        {"percent_off": 50, "duration": "repeating", "duration_in_months": 3})
    assert isinstance(coupon, stripe.Coupon) and coupon.percent_off == 50
    sub = box.client.v1.subscriptions.update(box.ids.subscription_id, {
        "default_payment_method": box.ids.payment_method_id,
        "discounts": [{"coupon": coupon.id}],
        "pause_collection": {"behavior": "keep_as_draft"},
    })
    assert isinstance(sub, stripe.Subscription)
    assert sub.default_payment_method == box.ids.payment_method_id
    assert sub.pause_collection.behavior == "keep_as_draft" and len(sub.discounts) == 1
    unpaused = box.client.v1.subscriptions.update(box.ids.subscription_id,
                                                  {"pause_collection": ""})
    assert unpaused.pause_collection is None
    invoice = box.fake.invoice(box.fake.renew("alice"))
    assert invoice["amount_due"] == 1250 and invoice["status"] == "paid"


def test_cancel_void_and_uncollectible_emit_their_events():
    box = Sandbox(NSF, NSF)
    first = box.fake.renew("alice")
    box.clock.advance(timedelta(days=30))
    second = box.fake.renew("alice")
    voided = box.client.v1.invoices.void_invoice(first)
    assert voided.status == "void" and voided.status_transitions.voided_at is not None
    marked = box.client.v1.invoices.mark_uncollectible(second)
    assert marked.status_details.uncollectible.reason == "user_forgiven"
    canceled = box.client.v1.subscriptions.cancel(box.ids.subscription_id,
                                                  {"cancellation_details": {"comment": "dunning"}})
    assert canceled.status == "canceled"
    events = box.events()[-3:]
    assert [e.type for e in events] == [
        "invoice.voided", "invoice.marked_uncollectible", "customer.subscription.deleted"]
    details = events[2].data.object.cancellation_details
    assert (details.reason, details.comment) == ("cancellation_requested", "dunning")
    assert box.fake.renew("alice") is None


def test_customer_pays_on_session_or_cancels():
    box = Sandbox(NSF)
    invoice_id = box.fake.renew("alice")
    assert box.fake.pay_on_session("alice", invoice_id) is True
    assert box.fake.pay_on_session("alice", invoice_id) is False
    assert len(box.world.calls) == 1  # the World had already decided the on-session payment
    assert "invoice.paid" in box.types()
    assert box.fake.cancel_by_customer("alice") is True
    deleted = box.events()[-1]
    assert deleted.type == "customer.subscription.deleted"
    assert deleted.data.object.cancellation_details.reason == "cancellation_requested"


def test_open_invoices_page_through_auto_paging_iter():
    box = Sandbox(NSF, NSF, NSF, NSF, NSF)
    made = []
    for _ in range(5):
        made.append(box.fake.renew("alice"))
        box.clock.advance(timedelta(days=30))
    listed = box.client.v1.invoices.list(
        {"customer": box.ids.customer_id, "status": "open", "limit": 2})
    assert listed.has_more is True and len(listed.data) == 2
    seen = list(listed.auto_paging_iter())
    assert all(isinstance(invoice, stripe.Invoice) for invoice in seen)
    assert [invoice.id for invoice in seen] == made[::-1]
    assert box.fake.api_calls()["GET /v1/invoices"] == 3


def test_hosted_page_links():
    box = Sandbox()
    portal = box.client.v1.billing_portal.sessions.create({
        "customer": box.ids.customer_id, "return_url": "https://app.example/billing",
        "flow_data": {"type": "payment_method_update", "after_completion": {
            "type": "redirect", "redirect": {"return_url": "https://app.example/done"}}},
    })
    assert isinstance(portal, stripe.billing_portal.Session)
    assert portal.url.startswith("https://") and portal.flow.type == "payment_method_update"
    checkout = box.client.v1.checkout.sessions.create({
        "mode": "setup", "customer": box.ids.customer_id, "currency": "eur",
        "success_url": "https://app.example/ok", "cancel_url": "https://app.example/no",
    })
    assert isinstance(checkout, stripe.checkout.Session)
    assert checkout.mode == "setup" and checkout.setup_intent.startswith("seti_")


def test_serve_answers_the_sdk_over_loopback():
    box = Sandbox(NSF, NSF)
    invoice_id = box.fake.renew("alice")
    with box.fake.serve() as server:
        assert server.url.startswith("http://127.0.0.1:")
        client = stripe.StripeClient(
            "sk_test_sandbox", http_client=stripe.HTTPXClient(allow_sync_methods=True),
            base_addresses={"api": server.url})
        invoice = client.v1.invoices.retrieve(invoice_id)
        assert isinstance(invoice, stripe.Invoice) and invoice.attempt_count == 1
        with pytest.raises(stripe.CardError):
            client.v1.invoices.pay(invoice_id, {"off_session": True},
                                   {"idempotency_key": "served"})
    raw = json.loads(box.delivered[-1][0])
    assert raw["request"]["idempotency_key"] == "served"


def test_held_and_filtered_webhooks_wait_for_the_driver():
    clock, delivered = VirtualClock(START), []
    fake = FakeStripe(ScriptedWorld(NSF), clock, webhook_secret=SECRET,
                      deliver=lambda body, sig: delivered.append(body),
                      enabled_events={"invoice.payment_failed"}, hold_webhooks=True)
    fake.add_subscriber(subscriber())
    fake.renew("alice")
    assert delivered == []
    assert fake.deliver_pending() == 1
    assert [json.loads(body)["type"] for body in delivered] == ["invoice.payment_failed"]


def test_concurrent_replays_of_one_key_charge_once():
    box = Sandbox(NSF, NSF)
    invoice_id = box.fake.renew("alice")

    def pay(_: int) -> str:
        try:
            box.client.v1.invoices.pay(invoice_id, {"off_session": True},
                                       {"idempotency_key": "same"})
        except stripe.CardError as err:
            return err.error.charge
        return "paid"

    with ThreadPoolExecutor(max_workers=8) as pool:
        charges = set(pool.map(pay, range(16)))
    assert len(charges) == 1 and len(box.world.calls) == 2
