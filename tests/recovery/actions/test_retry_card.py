"""The card the network rules checked is the card a retry charges: the retry names its payment
method, and a card the customer added becomes their default before it is charged."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from models import ActionKind, CaseStatus, RecoveryCase, ScheduledAction, WaitingFor
from recovery.worker.jobs import run_actions
from tests.recovery.actions.flow import (
    deliver,
    engine_attempts,
    failed_event,
    next_retry,
    run_next_retry,
    the_case,
)
from tests.recovery.stripe_stub import Decline
from tests.webhooks import payloads as p

NEW_CARD = "pm_NewCardAdded00001"
NEW_FINGERPRINT = "fpNewCardAdded01"


def card_changed(services, how: str) -> dict:
    """The Stripe event that tells the engine about the new card, by how it changed."""
    at = services.clock.now()
    if how == "customer.updated":
        return p.customer_updated_event(p.LATEST, default_payment_method=NEW_CARD, created=at)
    return p.payment_method_event(how, p.LATEST, payment_method_id=NEW_CARD,
                                  fingerprint=NEW_FINGERPRINT, created=at)


@pytest.mark.parametrize("how", ["payment_method.attached", "customer.updated"])
def test_a_card_added_after_a_stolen_card_decline_is_the_one_charged(client, services, stub,
                                                                       how):
    stub.first_decline = Decline("stolen_card", network_decline_code="43")
    stub.cards[NEW_CARD] = (NEW_FINGERPRINT, "visa")
    deliver(client, services, failed_event(services))
    run_actions(services)
    assert the_case(services).waiting_for == WaitingFor.new_card

    services.clock.advance(timedelta(hours=3))
    deliver(client, services, card_changed(services, how))
    retry = next_retry(services)
    assert retry.params["payment_method"] == NEW_CARD
    assert retry.params["card_fingerprint"] == NEW_FINGERPRINT
    run_next_retry(services)

    assert stub.pay_methods == [NEW_CARD]
    assert stub.charged == [NEW_FINGERPRINT]  # never the stolen card on file
    assert stub.subscription_default == NEW_CARD and stub.customer_default == NEW_CARD
    case = the_case(services)
    assert (case.status, case.recovered_by) == (CaseStatus.recovered, "card_update")
    (attempt,) = engine_attempts(services)
    assert attempt.card_fingerprint == NEW_FINGERPRINT


def test_a_card_the_network_updated_is_named_but_not_made_a_new_default(client, services, stub):
    stub.first_decline = Decline("expired_card", failure_code="expired_card",
                                 network_decline_code="54")
    stub.cards[NEW_CARD] = (NEW_FINGERPRINT, "visa")
    deliver(client, services, failed_event(services))
    run_actions(services)
    services.clock.advance(timedelta(hours=3))
    deliver(client, services, card_changed(services, "payment_method.automatically_updated"))
    run_next_retry(services)

    assert stub.pay_methods == [NEW_CARD] and stub.charged == [NEW_FINGERPRINT]
    assert not any(call.startswith(("update_customer", "update_subscription"))
                   for call in stub.calls)


def test_a_retry_that_failed_on_a_card_charges_that_same_card_again(client, services, stub):
    stub.pay_results.extend([Decline("insufficient_funds")])
    deliver(client, services, failed_event(services))
    run_actions(services)
    # The customer's default changed behind the engine's back (no event reached it).
    stub.customer_default = "pm_SomeOtherCard00001"
    stub.cards["pm_SomeOtherCard00001"] = ("fpSomeOtherCard1", "visa")
    run_next_retry(services)
    assert stub.pay_methods == [p.PAYMENT_METHOD_ID]
    assert stub.charged == [p.FINGERPRINT]


def test_without_a_known_method_the_default_card_is_checked_before_it_is_charged(
        client, services, stub):
    """A case whose failing method the engine never learnt: the retry reads the customer's
    default card, checks that card's budget, and names it; a stolen default is not charged."""
    deliver(client, services, failed_event(services))
    run_actions(services)
    forget_the_payment_method(services)
    stolen, stolen_fingerprint = "pm_StolenDefault0001", "fpStolenDefault1"
    stub.cards[stolen] = (stolen_fingerprint, "visa")
    stub.customer_default = stolen
    # Another merchant invoice on that card came back stolen: nothing may charge it again.
    deliver(client, services, p.charge_failed_event(
        p.LATEST, charge_id="ch_OtherInvoice0001", payment_intent="pi_OtherInvoice0001",
        payment_method=stolen, decline_code="stolen_card", network_decline_code="43",
        fingerprint=stolen_fingerprint, created=services.clock.now()))

    run_next_retry(services)

    assert stub.pay_keys == [] and stub.charged == []
    assert "retrieve_customer" in stub.calls


def test_without_a_known_method_the_default_card_is_named_when_its_budget_allows(
        client, services, stub):
    deliver(client, services, failed_event(services))
    run_actions(services)
    forget_the_payment_method(services)
    run_next_retry(services)
    assert stub.pay_methods == [p.PAYMENT_METHOD_ID]
    assert the_case(services).status == CaseStatus.recovered


def forget_the_payment_method(services) -> None:
    """As for a case opened from a decline that named no payment method."""
    with services.sessions() as session:
        case = session.exec(select(RecoveryCase)).one()
        case.payment_method_id = None
        for retry in session.exec(select(ScheduledAction).where(
                ScheduledAction.kind == ActionKind.retry.value)):
            retry.params = None
        session.commit()
