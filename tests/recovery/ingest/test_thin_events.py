"""Thin events are fetched from Stripe and ingested like snapshot events, never left unprocessed."""

from __future__ import annotations

from datetime import timedelta

import pytest
import respx
from sqlmodel import select

from models import Account, InboxStatus, RecoveryCase, WebhookEvent
from recovery.ingest import inbox as ingest
from recovery.ingest.thin_events import SnapshotReader, claim_thin_events
from recovery.worker.jobs import fetch_thin_event_snapshots, ingest_inbox
from tests.conftest import WEBHOOK_SECRET
from tests.recovery.stripe_stub import BASE, StripeStub
from tests.webhooks import payloads as p
from tests.webhooks.signing import signed_request
from webhooks.inbox import entry_from_payload, store_event

SNAPSHOT_ID = "evt_TestSnapshot000001"


@pytest.fixture
def stripe_edge():
    """The Stripe stub, plus the router to add the events endpoint to."""
    stub = StripeStub()
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        stub.install(router)
        yield stub, router


def post(client, services, payload: dict) -> None:
    body, headers = signed_request(payload, WEBHOOK_SECRET, services.clock.now())
    assert client.post("/webhooks/stripe", content=body, headers=headers).status_code == 200


def thin(services, event_type: str = "v1.invoice.payment_failed", **fields) -> dict:
    return p.thin_event(event_type, created=services.clock.now(), **fields)


def row_of(services, event: dict) -> WebhookEvent:
    with services.sessions() as session:
        return session.exec(select(WebhookEvent).where(
            WebhookEvent.stripe_event_id == event["id"])).one()


def cases(services) -> list[RecoveryCase]:
    with services.sessions() as session:
        return list(session.exec(select(RecoveryCase)))


def test_a_thin_event_naming_its_snapshot_event_is_fetched_and_ingested(client, services,
                                                                         stripe_edge):
    stub, router = stripe_edge
    snapshot = p.invoice_event("invoice.payment_failed", p.LATEST, event_id=SNAPSHOT_ID,
                               attempt_count=1, created=services.clock.now())
    events = router.get(f"{BASE}/v1/events/{SNAPSHOT_ID}").respond(200, json=snapshot)
    event = {**thin(services), "snapshot_event": SNAPSHOT_ID}
    post(client, services, event)
    assert row_of(services, event).status == InboxStatus.needs_fetch

    assert fetch_thin_event_snapshots(services) == 1
    assert events.call_count == 1
    row = row_of(services, event)
    assert row.status == InboxStatus.pending and row.payload["thin_event"]["id"] == event["id"]
    ingest_inbox(services)
    assert row_of(services, event).status == InboxStatus.processed
    (case,) = cases(services)
    assert case.stripe_invoice_id == p.INVOICE_ID and case.card_fingerprint == p.FINGERPRINT


def test_without_a_snapshot_event_the_related_object_is_read(client, services, stripe_edge):
    stub, _router = stripe_edge
    event = thin(services)
    post(client, services, event)
    fetch_thin_event_snapshots(services)
    assert stub.calls[0] == "retrieve"  # GET /v1/invoices/{id}
    ingest_inbox(services)
    assert row_of(services, event).status == InboxStatus.processed
    (case,) = cases(services)
    assert case.stripe_invoice_id == p.INVOICE_ID and case.waiting_for == "retry"


def test_a_thin_event_of_a_type_the_engine_does_not_use_is_ignored_without_a_read(
        client, services, stripe_edge):
    stub, _router = stripe_edge
    event = thin(services, "v1.customer.created", related_type="customer",
                 related_id=p.CUSTOMER_ID)
    post(client, services, event)
    fetch_thin_event_snapshots(services)
    assert row_of(services, event).status == InboxStatus.ignored and stub.calls == []


def test_stripe_trouble_defers_the_fetch_without_using_a_try(client, services, stripe_edge):
    stub, _router = stripe_edge
    services.settings.ingest_max_tries = 1
    stub.outage = (503, {"type": "api_error", "message": "down"})
    event = thin(services)
    post(client, services, event)
    for deferrals in (1, 2, 3):
        fetch_thin_event_snapshots(services)
        row = row_of(services, event)
        assert (row.status, row.tries, row.deferrals) == (InboxStatus.needs_fetch, 0, deferrals)
        services.clock.set(row.next_attempt_at)
    stub.outage = None
    fetch_thin_event_snapshots(services)
    assert row_of(services, event).status == InboxStatus.pending


def test_a_read_stripe_refuses_fails_the_row_for_redrive(client, services, stripe_edge):
    stub, _router = stripe_edge
    stub.outage = (404, {"type": "invalid_request_error", "code": "resource_missing",
                         "message": "No such invoice: 'in_gone'"})
    event = thin(services, related_id="in_gone")
    post(client, services, event)
    fetch_thin_event_snapshots(services)
    row = row_of(services, event)
    assert row.status == InboxStatus.failed and "No such invoice" in row.last_error

    stub.outage = None
    assert ingest.redrive(services.sessions, failed=True) == 1
    assert row_of(services, event).status == InboxStatus.needs_fetch  # fetched again, not parsed


def test_a_notification_naming_nothing_to_read_fails_at_once(client, services, stripe_edge):
    event = thin(services, related_id=None)
    post(client, services, event)
    fetch_thin_event_snapshots(services)
    row = row_of(services, event)
    assert row.status == InboxStatus.failed and "names no snapshot event" in row.last_error


def test_a_fetch_claim_left_by_a_dead_worker_is_released(client, services, stripe_edge):
    event = thin(services)
    post(client, services, event)
    assert claim_thin_events(services.sessions, services.clock, 10)
    assert row_of(services, event).status == InboxStatus.fetching
    services.clock.advance(ingest.CLAIM_LEASE + timedelta(seconds=1))
    assert ingest.release_stale_claims(services.sessions, services.clock) == 1
    assert row_of(services, event).status == InboxStatus.needs_fetch


def test_the_snapshot_keeps_the_key_of_the_request_that_caused_it(services):
    """An engine retry's thin failure event carries the retry's key, by which the engine knows
    its own retries."""

    class Reads:
        api_version = p.LATEST

        def retrieve_object(self, object_type, object_id, *, stripe_account=None):
            return p.invoice_object(p.LATEST)

        def retrieve_event(self, event_id, *, stripe_account=None):
            raise AssertionError("no snapshot event is named")

    reason = {"type": "request", "request": {"id": "req_1", "idempotency_key": "recovery:7"}}
    snapshot = SnapshotReader(Reads(), lambda _account: None).snapshot(
        "acct_default", {**thin(services), "reason": reason})
    assert snapshot["request"]["idempotency_key"] == "recovery:7"
    assert snapshot["type"] == "invoice.payment_failed"
    assert snapshot["created"] == int(services.clock.now().timestamp())


def test_the_fetch_job_waits_for_stripe_to_be_wired_in(services):
    services.engine = None
    assert fetch_thin_event_snapshots(services) == 0


def test_a_connect_accounts_thin_event_is_read_as_that_account(services, stripe_edge):
    _stub, router = stripe_edge
    with services.sessions() as session:
        session.add(Account(id="acct_connected", name="c", stripe_account_id="acct_1Conn",
                            created_at=services.clock.now()))
        session.flush()
        store_event(session, "acct_connected", entry_from_payload(thin(services)),
                    services.clock.now())
        session.commit()
    fetch_thin_event_snapshots(services)
    (request,) = [call.request for call in router.calls
                  if call.request.url.path.startswith("/v1/invoices/")]
    assert request.headers["Stripe-Account"] == "acct_1Conn"
