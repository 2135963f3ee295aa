"""Transient Stripe trouble never drops an event: it waits without using up its tries, and a
failure whose decline details cannot be read opens its case and gets them later."""

from __future__ import annotations

import pytest
from sqlmodel import select

from models import (
    ActionKind,
    ActionStatus,
    ChargeAttempt,
    InboxStatus,
    RecoveryCase,
    ScheduledAction,
    WebhookEvent,
)
from recovery.errors import GatewayUnavailable
from recovery.ingest.inbox import ingest_once
from recovery.ingest.retries import defer
from recovery.worker.jobs import ingest_inbox, refresh_pending_decline_details
from tests.conftest import WEBHOOK_SECRET
from tests.recovery.ingest.test_inbox import invoice_event, put
from tests.recovery.stripe_stub import Decline
from tests.webhooks import payloads as p
from tests.webhooks.signing import signed_request

OUTAGES = {
    "unavailable": (503, {"type": "api_error", "message": "Stripe is down"}),
    "rate limited": (429, {"type": "invalid_request_error", "code": "rate_limit",
                           "message": "Too many requests"}),
    "access revoked": (401, {"type": "invalid_request_error",
                             "message": "Invalid API Key provided"}),
}


def post(client, services, payload: dict) -> None:
    body, headers = signed_request(payload, WEBHOOK_SECRET, services.clock.now())
    assert client.post("/webhooks/stripe", content=body, headers=headers).status_code == 200


def failed_event(services, **fields) -> dict:
    return p.invoice_event("invoice.payment_failed", p.LATEST, attempt_count=1,
                           created=services.clock.now(), **fields)


def inbox_row(services, stripe_event_id: str) -> WebhookEvent:
    with services.sessions() as session:
        return session.exec(select(WebhookEvent).where(
            WebhookEvent.stripe_event_id == stripe_event_id)).one()


def the_case(services) -> RecoveryCase:
    with services.sessions() as session:
        return session.exec(select(RecoveryCase)).one()


def attempts(services) -> list[ChargeAttempt]:
    with services.sessions() as session:
        return list(session.exec(select(ChargeAttempt).order_by(ChargeAttempt.id)))


def scheduled(services, kind: ActionKind) -> list[ScheduledAction]:
    with services.sessions() as session:
        return list(session.exec(select(ScheduledAction).where(
            ScheduledAction.kind == kind.value,
            ScheduledAction.status == ActionStatus.scheduled.value)))


def scheduled_retries(services) -> list[ScheduledAction]:
    return scheduled(services, ActionKind.retry)


@pytest.mark.parametrize("outage", OUTAGES.values(), ids=OUTAGES.keys())
def test_stripe_trouble_while_handling_an_event_never_uses_up_its_tries(client, services, stub,
                                                                       outage):
    services.settings.ingest_max_tries = 2
    post(client, services, failed_event(services))
    ingest_inbox(services)
    stub.outage = outage
    # A new default card, known only by id: the engine must read it from Stripe.
    changed = p.customer_updated_event(p.LATEST, default_payment_method="pm_TestCardNew000001",
                                       created=services.clock.now())
    stub.cards["pm_TestCardNew000001"] = ("fp_new_card", "visa")
    post(client, services, changed)

    for deferrals in range(1, 5):  # twice as many rounds as the event has tries
        ingest_inbox(services)
        row = inbox_row(services, changed["id"])
        assert (row.status, row.tries) == (InboxStatus.pending, 0)
        assert row.deferrals == deferrals and "Stripe trouble" in row.last_error
        services.clock.set(row.next_attempt_at)

    stub.outage = None
    ingest_inbox(services)
    row = inbox_row(services, changed["id"])
    assert (row.status, row.tries) == (InboxStatus.processed, 1)
    assert the_case(services).card_fingerprint == "fp_new_card"


def test_an_event_that_is_itself_broken_still_uses_up_its_tries(services):
    def broken(session, account_id, fact):
        raise KeyError("a bug, not Stripe trouble")

    services.handler = broken
    services.settings.ingest_max_tries = 1
    put(services, invoice_event("evt_broken"))
    ingest_inbox(services)
    row = inbox_row(services, "evt_broken")
    assert (row.status, row.tries, row.deferrals) == (InboxStatus.failed, 1, 0)


@pytest.mark.parametrize("batched", [True, False], ids=["in a batch", "alone"])
@pytest.mark.parametrize("outage", OUTAGES.values(), ids=OUTAGES.keys())
def test_a_failure_whose_details_cannot_be_read_opens_its_case_and_gets_them_later(
        client, services, stub, outage, batched):
    # A stolen card must never be retried: the plan made without the details has to change.
    stub.first_decline = Decline("stolen_card", network_decline_code="43")
    stub.outage = outage
    event = failed_event(services)
    post(client, services, event)
    ingest_once(services.sessions, services.clock, services.handler,
                batches=services.engine if batched else None)

    row = inbox_row(services, event["id"])
    assert row.status == InboxStatus.processed
    case = the_case(services)
    assert case.status == "open" and case.card_fingerprint is None
    (waiting,) = attempts(services)
    assert waiting.details_pending and waiting.decline_code is None
    # Unplanned while it waits: no blind retry, and no message asking the customer for a card.
    assert case.waiting_for == "details"
    assert not scheduled_retries(services) and not scheduled(services, ActionKind.notify)
    assert refresh_pending_decline_details(services) == 0  # Stripe still cannot be read
    assert attempts(services)[0].details_pending

    stub.outage = None
    assert refresh_pending_decline_details(services) == 1
    (filled,) = attempts(services)
    assert not filled.details_pending
    assert (filled.decline_code, filled.decline_class, filled.stripe_charge_id) == (
        "stolen_card", "stop", p.CHARGE_ID)
    case = the_case(services)
    assert case.card_fingerprint == p.FINGERPRINT and case.last_decline_class == "stop"
    assert case.waiting_for == "new_card" and not scheduled_retries(services)
    assert refresh_pending_decline_details(services) == 0  # nothing left to read


def test_a_failure_delivered_again_while_its_details_wait_is_one_attempt(client, services,
                                                                         stub):
    stub.outage = OUTAGES["unavailable"]
    first = failed_event(services)
    again = failed_event(services)  # the same failure under another event id
    for event in (first, again):
        post(client, services, event)
    ingest_inbox(services)
    post(client, services, failed_event(services))  # and once more, in a later batch
    ingest_inbox(services)
    assert len(attempts(services)) == 1

    stub.outage = None
    refresh_pending_decline_details(services)
    (attempt,) = attempts(services)
    assert attempt.decline_code == "insufficient_funds" and len(scheduled_retries(services)) == 1


def test_a_charge_report_that_came_meanwhile_merges_with_the_details_read_later(client,
                                                                                services, stub):
    stub.outage = OUTAGES["unavailable"]
    post(client, services, failed_event(services))
    ingest_inbox(services)
    # charge.failed names only the payment intent, which the waiting attempt does not know.
    post(client, services, p.charge_failed_event(p.LATEST, created=services.clock.now()))
    ingest_inbox(services)
    assert len(attempts(services)) == 2

    stub.outage = None
    refresh_pending_decline_details(services)
    (attempt,) = attempts(services)
    assert attempt.stripe_charge_id == p.CHARGE_ID and attempt.case_id == the_case(services).id
    assert not attempt.details_pending and attempt.decline_code == "insufficient_funds"


def test_details_stripe_refuses_to_give_are_not_waited_for(client, services, stub):
    stub.outage = OUTAGES["unavailable"]
    post(client, services, failed_event(services))
    ingest_inbox(services)
    stub.outage = (404, {"type": "invalid_request_error", "code": "resource_missing",
                         "message": "No such invoice"})
    assert refresh_pending_decline_details(services) == 1
    (attempt,) = attempts(services)
    assert not attempt.details_pending and attempt.decline_code is None
    # Planned without them, as the engine plans any failure it knows no card for.
    assert the_case(services).waiting_for == "new_card"


@pytest.mark.parametrize(("retry_after", "waits"), [(None, 10), (0, 1), (30, 30), (86400, 3600)])
def test_a_deferral_waits_as_long_as_stripe_asks_within_bounds(services, retry_after, waits):
    put(services, invoice_event("evt_later"))
    row = inbox_row(services, "evt_later")
    problem = GatewayUnavailable("rate limited", retry_after_seconds=retry_after)
    assert defer(services.sessions, services.clock, row.id, problem) == "deferred"
    row = inbox_row(services, "evt_later")
    assert (row.next_attempt_at - services.clock.now()).total_seconds() == waits


def test_a_lost_database_connection_defers_the_event_without_using_up_a_try(services):
    from sqlalchemy.exc import OperationalError

    lost = {"times": 4}  # each round tries the batch, then the event alone

    def flaky(session, account_id, fact):
        if lost["times"]:
            lost["times"] -= 1
            raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    services.handler = flaky
    services.settings.ingest_max_tries = 1
    put(services, invoice_event("evt_flaky"))
    for deferrals in (1, 2):
        ingest_inbox(services)
        row = inbox_row(services, "evt_flaky")
        assert (row.status, row.tries, row.deferrals) == (InboxStatus.pending, 0, deferrals)
        assert "database unavailable" in row.last_error
        services.clock.set(row.next_attempt_at)
    ingest_inbox(services)
    assert inbox_row(services, "evt_flaky").status == InboxStatus.processed
