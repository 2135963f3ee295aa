"""The fake Stripe's charge audit: every attempt, whoever made it, with the invoice's and the
subscription's status just before it."""

from __future__ import annotations

from datetime import timedelta

from tests.recovery.sandbox.fake_stripe.test_fake import AUTH, NSF, START, Sandbox


def test_every_attempt_is_audited_with_the_state_before_it():
    box = Sandbox(NSF, NSF, retry_days=(3,))
    invoice_id = box.fake.renew("alice")
    box.clock.advance(timedelta(days=3))
    box.fake.tick()  # Stripe's own retry, declined again
    box.clock.advance(timedelta(hours=5))
    box.client.v1.invoices.pay(invoice_id, {"off_session": True}, {"idempotency_key": "k1"})
    # The same key again: Stripe's replay, not an attempt.
    box.client.v1.invoices.pay(invoice_id, {"off_session": True}, {"idempotency_key": "k1"})

    first, retry, manual = box.fake.audit.entries()
    assert [e.kind for e in (first, retry, manual)] == ["first", "automatic", "manual"]
    assert [e.paid for e in (first, retry, manual)] == [False, False, True]
    assert (first.at, retry.at, manual.at) == (
        START, START + timedelta(days=3), START + timedelta(days=3, hours=5))
    assert first.invoice_id == invoice_id and first.subscription_id == box.ids.subscription_id
    assert (first.customer_id, first.payment_method_id) == (box.ids.customer_id,
                                                            box.ids.payment_method_id)
    assert (first.card_fingerprint, first.brand, first.amount, first.currency) == (
        "fp_visa_1", "visa", 2500, "eur")
    assert (first.decline_code, first.advice_code, first.network_decline_code,
            first.network_advice_code, first.failure_code) == (
        "insufficient_funds", "try_again_later", "51", "24", "card_declined")
    assert (first.subscription_status, retry.subscription_status) == ("active", "past_due")
    assert {e.invoice_status_before for e in (first, retry, manual)} == {"open"}
    assert manual.idempotency_key == "k1" and first.idempotency_key is None
    assert manual.charge_id == box.fake.charges_for(invoice_id)[-1]["id"]
    assert manual.failure_code is None and manual.decline_code is None
    assert box.fake.audit.paid() == (manual,) and len(box.fake.audit) == 3


def test_a_charge_of_a_canceled_subscription_is_audited_as_such():
    box = Sandbox(AUTH)
    invoice_id = box.fake.renew("alice")
    box.fake.cancel_by_customer("alice")
    # Stripe still lets an open invoice of a canceled subscription be paid.
    box.client.v1.invoices.pay(invoice_id, {"off_session": True}, {"idempotency_key": "k2"})
    first, late = box.fake.audit
    assert first.decline_code == "authentication_required" and first.subscription_status == "active"
    assert late.paid and late.subscription_status == "canceled"
    assert late.invoice_status_before == "open"
