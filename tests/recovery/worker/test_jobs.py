"""The worker's job list, run as its scheduler runs it: every job, tick after tick."""

from __future__ import annotations

from sqlmodel import select

from models import ChargeAttempt, InboxStatus, RecoveryCase, WebhookEvent
from recovery.worker.jobs import job_specs
from tests.conftest import WEBHOOK_SECRET
from tests.webhooks import payloads as p
from tests.webhooks.signing import signed_request


def post(client, services, payload: dict) -> None:
    body, headers = signed_request(payload, WEBHOOK_SECRET, services.clock.now())
    assert client.post("/webhooks/stripe", content=body, headers=headers).status_code == 200


def tick(services, times: int = 2) -> None:
    for _ in range(times):
        for spec in job_specs(services.settings.tick_seconds):
            spec.run(services)


def test_the_worker_takes_a_thin_event_all_the_way_to_a_case(client, services, stub):
    event = p.thin_event("v1.invoice.payment_failed", created=services.clock.now())
    post(client, services, event)
    tick(services)
    with services.sessions() as session:
        row = session.exec(select(WebhookEvent)).one()
        case = session.exec(select(RecoveryCase)).one()
    assert row.status == InboxStatus.processed
    assert case.stripe_invoice_id == p.INVOICE_ID and case.card_fingerprint == p.FINGERPRINT


def test_the_worker_fills_in_decline_details_stripe_could_not_give_at_first(client, services,
                                                                            stub):
    stub.outage = (503, {"type": "api_error", "message": "down"})
    post(client, services, p.invoice_event("invoice.payment_failed", p.LATEST, attempt_count=1,
                                           created=services.clock.now()))
    tick(services, times=1)
    stub.outage = None
    tick(services, times=1)
    with services.sessions() as session:
        attempt = session.exec(select(ChargeAttempt)).one()
    assert attempt.decline_code == "insufficient_funds" and not attempt.details_pending
