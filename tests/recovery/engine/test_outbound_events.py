"""The engine emits outbound events with the case changes that cause them, through its real
paths (signed Stripe webhooks in, the worker's jobs): ``case.opened``, ``case.recovered``,
``case.exhausted``, ``customer.at_risk`` and ``offer.accepted``, each once, and only to the
endpoints subscribed to it; a replayed Stripe event emits nothing more."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from models import ActionStatus, CaseStatus, OutboundEventType, RecoveryCase
from recovery.accounts.outbound_endpoints import remove_endpoint
from recovery.engine.outbound_events import emit_case_event
from recovery.worker.jobs import run_actions
from tests.recovery.actions.flow import deliver, failed_event, open_case, run_next_retry, the_case
from tests.recovery.actions.test_offers import DISCOUNT, accept, shown_offer
from tests.recovery.outbound_flow import (
    add_endpoint,
    deliveries,
    event_types,
    events,
    outbound_settings,
)
from tests.recovery.stripe_stub import Decline
from tests.webhooks import payloads as p


@pytest.fixture
def settings(settings):
    return outbound_settings(settings)


def received_types(receiver) -> list[str]:
    return [json.loads(received.body)["type"] for received in receiver.requests]


def payload_of(services, event_type: str) -> dict:
    (event,) = [e for e in events(services) if e.type == event_type]
    return event.payload


def test_a_case_opened_then_recovered_by_a_retry(client, services, stub, receiver):
    add_endpoint(services, receiver.url)
    deliver(client, services, failed_event(services))
    assert event_types(services) == ["case.opened"]
    run_actions(services)
    run_next_retry(services)  # the retry pays the invoice
    assert the_case(services).status == CaseStatus.recovered
    assert event_types(services) == ["case.opened", "case.recovered"]
    run_actions(services)  # sent although the case is closed now

    assert received_types(receiver) == ["case.opened", "case.recovered"]
    case = payload_of(services, "case.recovered")["data"]["case"]
    assert (case["status"], case["recovered_by"], case["waiting_for"]) == (
        "recovered", "retry", "nothing")
    assert case["closed_at"] == services.clock.now().isoformat()
    assert all(action.status == ActionStatus.done for action in deliveries(services))


def test_a_replayed_stripe_event_emits_nothing_more(client, services, stub, receiver):
    add_endpoint(services, receiver.url)
    failure = failed_event(services)
    deliver(client, services, failure)
    # Stripe sends the same facts again under new event ids (a re-sent event, a resync).
    deliver(client, services, failure | {"id": "evt_replayed_failure"})
    paid = p.invoice_event("invoice.paid", p.LATEST, created=services.clock.now())
    deliver(client, services, paid)
    deliver(client, services, paid | {"id": "evt_replayed_paid"})
    assert event_types(services) == ["case.opened", "case.recovered"]
    assert len(deliveries(services)) == 2
    assert payload_of(services, "case.recovered")["data"]["case"]["recovered_by"] == "customer"


def test_a_stolen_card_puts_the_customer_at_risk_then_the_case_is_exhausted(
        client, services, stub, receiver):
    add_endpoint(services, receiver.url)
    stub.first_decline = Decline("stolen_card", network_decline_code="43")
    deliver(client, services, failed_event(services))
    assert event_types(services) == ["case.opened", "customer.at_risk"]
    at_risk = payload_of(services, "customer.at_risk")["data"]
    assert at_risk["case"]["waiting_for"] == "new_card" and "stolen" in at_risk["reason"]
    for _ in range(30):
        services.clock.advance(timedelta(days=1))
        run_actions(services)

    assert the_case(services).status == CaseStatus.exhausted
    assert event_types(services) == ["case.opened", "customer.at_risk", "case.exhausted"]
    exhausted = payload_of(services, "case.exhausted")["data"]
    assert exhausted["case"]["status"] == "exhausted"
    assert exhausted["final_actions"] == ["invoice uncollectible", "subscription cancel"]
    assert received_types(receiver) == ["case.opened", "customer.at_risk", "case.exhausted"]


def test_customer_at_risk_is_emitted_once_per_case(client, services, stub, receiver):
    add_endpoint(services, receiver.url, ["customer.at_risk"])
    stub.first_decline = Decline("stolen_card", network_decline_code="43")
    deliver(client, services, failed_event(services))
    with services.sessions() as session:
        case = session.get(RecoveryCase, the_case(services).id)
        again = emit_case_event(session, case, OutboundEventType.customer_at_risk,
                                services.clock, reason="planned again")
        session.commit()
    assert again is None
    assert event_types(services) == ["customer.at_risk"]


def test_an_accepted_offer_is_emitted_then_the_recovery_it_brought(
        client, services, stub, receiver):
    add_endpoint(services, receiver.url, ["offer.accepted", "case.recovered"])
    case = open_case(client, services)
    services.clock.advance(timedelta(hours=30))  # past the networks' spacing
    offer = shown_offer(services, case, DISCOUNT)
    accept(services, offer.id)
    accept(services, offer.id)  # a second click changes nothing
    assert event_types(services) == ["offer.accepted"]
    data = payload_of(services, "offer.accepted")["data"]
    assert (data["offer"]["kind"], data["offer"]["percent_off"], data["offer"]["months"]) == (
        "discount", 25, 3)
    assert data["case"]["id"] == case.id

    run_next_retry(services)  # the prompt retry pays
    run_actions(services)
    assert event_types(services) == ["offer.accepted", "case.recovered"]
    assert payload_of(services, "case.recovered")["data"]["case"]["recovered_by"] == "offer"
    assert received_types(receiver) == ["offer.accepted", "case.recovered"]


def test_events_go_only_to_the_endpoints_subscribed_to_them(client, services, stub, receiver):
    add_endpoint(services, receiver.url, ["case.recovered"])
    everything = add_endpoint(services, receiver.url)
    removed = add_endpoint(services, receiver.url)
    remove_endpoint(services.sessions, services.clock, services.settings.account_id,
                    removed.endpoint.id)
    deliver(client, services, failed_event(services))
    (delivery,) = deliveries(services)
    assert delivery.params["endpoint_id"] == everything.endpoint.id


def test_nothing_is_kept_when_no_endpoint_listens(client, services, stub):
    deliver(client, services, failed_event(services))
    assert the_case(services).status == CaseStatus.open
    assert events(services) == [] and deliveries(services) == []
