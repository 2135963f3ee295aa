"""No fingerprint, no blind retry; bank debits count under their own, stricter budget.

Real signed webhooks through the app and the ingest job; Stripe is the respx stub.
"""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from models import ActionKind, RecoveryCase
from recovery.worker.jobs import run_actions
from tests.recovery.engine.test_attempts import (
    attempts,
    deliver,
    failed_event,
    live,
    notices,
    the_case,
)
from tests.recovery.stripe_stub import Decline
from tests.webhooks import payloads as p

ACH_NSF = Decline(decline_code=None, failure_code="insufficient_funds",
                  network_decline_code="R01")


def test_a_card_without_a_fingerprint_is_not_retried_and_a_new_card_is_asked_for(
        client, services, stub):
    stub.fingerprint = None  # neither the charge nor its payment method names one
    deliver(client, services, failed_event(services))

    case = the_case(services)
    assert case.card_fingerprint is None
    assert case.waiting_for == "new_card"
    assert "no fingerprint" in case.last_reason
    assert live(services, ActionKind.retry) == []
    assert "card_update_request" in notices(services)


def test_a_missing_fingerprint_is_read_again_from_the_payment_method(client, services, stub):
    stub.fingerprint = None
    stub.cards[p.PAYMENT_METHOD_ID] = ("fpFromThePaymentMethod", "visa")
    deliver(client, services, failed_event(services))

    assert the_case(services).card_fingerprint == "fpFromThePaymentMethod"
    assert attempts(services)[0].card_fingerprint == "fpFromThePaymentMethod"
    assert len(live(services, ActionKind.retry)) == 1


def test_a_retry_due_on_a_card_without_a_fingerprint_never_reaches_stripe(
        client, services, stub):
    deliver(client, services, failed_event(services))
    (retry,) = live(services, ActionKind.retry)
    with services.sessions() as session:  # the card on file lost its fingerprint meanwhile
        case = session.exec(select(RecoveryCase)).one()
        case.card_fingerprint = None
        session.commit()
    services.clock.set(retry.due_at)
    run_actions(services)

    assert stub.pay_keys == []
    assert the_case(services).waiting_for == "new_card"


def test_a_new_card_without_a_fingerprint_is_not_retried_on_the_old_cards_budget(
        client, services, stub):
    deliver(client, services, failed_event(services))
    assert len(live(services, ActionKind.retry)) == 1
    stub.cards["pm_NoFingerprint00001"] = (None, "visa")
    deliver(client, services, p.payment_method_event(
        "payment_method.attached", p.LATEST, payment_method_id="pm_NoFingerprint00001",
        fingerprint=None, created=services.clock.now()))

    case = the_case(services)
    assert (case.payment_method_id, case.card_fingerprint) == ("pm_NoFingerprint00001", None)
    assert live(services, ActionKind.retry) == []
    assert case.waiting_for == "new_card"


def test_a_bank_debit_is_retried_at_most_twice_for_one_failure(client, services, stub):
    stub.method_type, stub.fingerprint, stub.first_decline = "us_bank_account", "ba_fp_1", ACH_NSF
    deliver(client, services, failed_event(services))
    assert len(live(services, ActionKind.retry)) == 1

    # Two more debits of the same account fail for lack of funds (Stripe's own retries).
    for charge_id in ("py_retry_1", "py_retry_2"):
        services.clock.advance(timedelta(days=3))
        deliver(client, services, p.charge_failed_event(
            p.LATEST, charge_id=charge_id, method_type="us_bank_account",
            fingerprint="ba_fp_1", failure_code="insufficient_funds", decline_code=None,
            network_decline_code="R01", created=services.clock.now()))

    assert live(services, ActionKind.retry) == []
    assert the_case(services).waiting_for == "new_card"
    assert [(a.payment_method_kind, a.card_fingerprint) for a in attempts(services)] == [
        ("us_bank_account", "ba_fp_1")] * 3


def test_a_bank_debit_that_was_not_authorized_is_never_retried(client, services, stub):
    stub.method_type, stub.fingerprint = "sepa_debit", "ba_fp_2"
    stub.first_decline = Decline(decline_code=None, failure_code="debit_not_authorized",
                                 network_decline_code="MD01")
    deliver(client, services, failed_event(services))

    assert live(services, ActionKind.retry) == []
    assert the_case(services).waiting_for == "new_card"
