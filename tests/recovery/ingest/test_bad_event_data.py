"""Bad data inside a stored event fails that event at parse time, with its reason, once: it is
never retried as a database error, and it never sends the rest of its batch back to one at a time.
"""

from __future__ import annotations

import logging

from sqlmodel import select

from models import InboxStatus, RecoveryCase, WebhookEvent
from recovery.worker.jobs import ingest_inbox
from tests.conftest import WEBHOOK_SECRET
from tests.recovery.stripe_stub import Decline
from tests.webhooks import payloads as p
from tests.webhooks.signing import signed_request

GOOD_INVOICES = ["in_good1", "in_good2", "in_good3"]


def failed(services, invoice_id: str, **fields) -> dict:
    return p.invoice_event("invoice.payment_failed", p.LATEST, invoice_id=invoice_id,
                           customer=f"cus_{invoice_id}", created=services.clock.now(), **fields)


def bad_events(services) -> dict[str, tuple[dict, str]]:
    """Events Stripe would never send, each with the reason its row must fail with."""
    now = services.clock.now()
    return {
        "huge amount": (failed(services, "in_bad1", amount_due=10**30),
                        "amount_due must be between 0 and 2147483647"),
        "long currency": (failed(services, "in_bad2", currency="x" * 200),
                          "currency is not a three-letter currency code"),
        "negative amount": (p.charge_failed_event(p.LATEST, amount=-100, created=now),
                            "amount must be between 0 and 2147483647, got -100"),
        "long invoice id": (failed(services, "in_" + "9" * 300),
                            "data.object.id is longer than 255 characters"),
    }


def post(client, services, payload: dict) -> None:
    body, headers = signed_request(payload, WEBHOOK_SECRET, services.clock.now())
    assert client.post("/webhooks/stripe", content=body, headers=headers).status_code == 200


def test_bad_values_fail_their_own_rows_once_and_the_batch_handles_the_rest(
        client, services, stub, caplog):
    stub.declines.update({invoice: Decline("insufficient_funds") for invoice in GOOD_INVOICES})
    bad = bad_events(services)
    # Interleaved, so that bad events sit between good ones in the claimed batch.
    for good_invoice, (payload, _reason) in zip(GOOD_INVOICES, list(bad.values())[:3],
                                                strict=True):
        post(client, services, failed(services, good_invoice))
        post(client, services, payload)
    post(client, services, list(bad.values())[3][0])

    with caplog.at_level(logging.WARNING, logger="recovery.ingest"):
        ingest_inbox(services)

    assert "handling a batch failed" not in caplog.text
    with services.sessions() as session:
        rows = {row.stripe_event_id: row for row in session.exec(select(WebhookEvent))}
        cases = session.exec(select(RecoveryCase.stripe_invoice_id)).all()
    for case, (payload, reason) in bad.items():
        row = rows[payload["id"]]
        assert (row.status, row.tries) == (InboxStatus.failed.value, 1), case
        assert row.last_error.startswith("parse error: ") and reason in row.last_error, case
    good = [row for row in rows.values() if row.stripe_event_id not in
            {payload["id"] for payload, _ in bad.values()}]
    assert [row.status for row in good] == [InboxStatus.processed.value] * 3
    assert sorted(cases) == GOOD_INVOICES
