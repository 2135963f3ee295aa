"""The ingest job: claim, parse, handle, and record failures for re-drive."""

from __future__ import annotations

import threading
from contextlib import nullcontext
from datetime import timedelta

from sqlmodel import select

from models import InboxStatus, WebhookEvent
from recovery.ingest import inbox as ingest
from recovery.ingest.retries import backoff
from recovery.worker.jobs import ingest_inbox
from webhooks.facts import InvoicePaid
from webhooks.inbox import entry_from_payload, store_event


def invoice_event(event_id: str, event_type: str = "invoice.paid", **invoice) -> dict:
    obj = {"id": "in_1", "object": "invoice", "customer": "cus_1", "amount_paid": 1500,
           "amount_due": 1500, "currency": "usd", "status": "paid", **invoice}
    return {"id": event_id, "object": "event", "type": event_type, "created": 1793973600,
            "api_version": "2026-10-28.endive", "livemode": False, "data": {"object": obj}}


def put(services, payload: dict) -> None:
    with services.sessions() as session:
        store_event(session, "acct_default", entry_from_payload(payload), services.clock.now())
        session.commit()


def rows(services) -> dict[str, WebhookEvent]:
    with services.sessions() as session:
        return {r.stripe_event_id: r for r in session.exec(select(WebhookEvent))}


def test_events_are_parsed_handled_and_marked(services):
    seen = []
    services.handler = lambda session, account, fact: seen.append((account, fact))
    put(services, invoice_event("evt_paid"))
    put(services, invoice_event("evt_unknown", "plan.created"))
    assert ingest_inbox(services) == 2
    assert [type(f) for _, f in seen] == [InvoicePaid]
    assert seen[0][0] == "acct_default"
    stored = rows(services)
    assert stored["evt_paid"].status == InboxStatus.processed
    assert stored["evt_unknown"].status == InboxStatus.ignored
    assert ingest_inbox(services) == 0  # nothing is handled twice


def test_a_handler_that_raises_leaves_the_row_retrying_then_failed_and_redrivable(services):
    def broken(session, account, fact):
        raise RuntimeError("engine exploded")

    services.handler = broken
    services.settings.ingest_max_tries = 2
    put(services, invoice_event("evt_bad"))
    ingest_inbox(services)
    row = rows(services)["evt_bad"]
    assert row.status == InboxStatus.pending and row.tries == 1
    assert "engine exploded" in row.last_error
    assert ingest_inbox(services) == 0  # backing off: not due yet
    services.clock.advance(backoff(1) + timedelta(seconds=1))
    ingest_inbox(services)
    row = rows(services)["evt_bad"]
    assert row.status == InboxStatus.failed and row.tries == 2
    assert row.payload["id"] == "evt_bad"  # payload kept

    handled = []
    services.handler = lambda session, account, fact: handled.append(fact.event_id)
    assert ingest.redrive(services.sessions, failed=True) == 1
    ingest_inbox(services)
    assert handled == ["evt_bad"]
    assert rows(services)["evt_bad"].status == InboxStatus.processed


def test_handler_writes_roll_back_with_the_failure(services):
    from models import Account

    def writes_then_fails(session, account, fact):
        session.add(Account(id="acct_ghost", created_at=services.clock.now()))
        session.flush()
        raise ValueError("after writing")

    services.handler = writes_then_fails
    put(services, invoice_event("evt_w"))
    ingest_inbox(services)
    with services.sessions() as session:
        assert session.get(Account, "acct_ghost") is None


def test_malformed_payload_is_failed_with_the_parse_reason(services):
    put(services, invoice_event("evt_mal", "invoice.payment_failed", id=None))
    ingest_inbox(services)
    row = rows(services)["evt_mal"]
    assert row.status == InboxStatus.failed
    assert row.last_error.startswith("parse error")


def test_redrive_one_event_by_id(services):
    services.handler = lambda *a: (_ for _ in ()).throw(RuntimeError("no"))
    services.settings.ingest_max_tries = 1
    put(services, invoice_event("evt_a"))
    put(services, invoice_event("evt_b", id="in_2"))
    ingest_inbox(services)
    assert ingest.redrive(services.sessions, event_id="evt_b") == 1
    statuses = {k: r.status for k, r in rows(services).items()}
    assert statuses == {"evt_a": InboxStatus.failed, "evt_b": InboxStatus.pending}


def test_two_claims_never_share_a_row(services):
    for n in range(10):
        put(services, invoice_event(f"evt_{n}", id=f"in_{n}"))
    first = [row.id for row in ingest.claim_events(services.sessions, services.clock, 6)]
    second = [row.id for row in ingest.claim_events(services.sessions, services.clock, 6)]
    assert len(first) == 6 and len(second) == 4
    assert not set(first) & set(second)


def test_stale_claims_are_released(services):
    put(services, invoice_event("evt_s"))
    assert ingest.claim_events(services.sessions, services.clock, 10)
    assert ingest.release_stale_claims(services.sessions, services.clock) == 0
    services.clock.advance(ingest.CLAIM_LEASE + timedelta(seconds=1))
    assert ingest.release_stale_claims(services.sessions, services.clock) == 1
    assert rows(services)["evt_s"].status == InboxStatus.pending


def test_stats_report_counts_and_oldest_pending_age(services):
    put(services, invoice_event("evt_1"))
    services.clock.advance(timedelta(seconds=90))
    stats = ingest.inbox_stats(services.sessions, services.clock)
    assert stats["counts"] == {"pending": 1}
    assert stats["oldest_pending_age_seconds"] == 90


class _PlainBatches:
    """A batch handler with nothing to read ahead."""

    def prefetch(self, facts):
        return {}

    def batch(self, session, prefetched):
        return nullcontext()


def test_a_stop_asked_mid_batch_rolls_it_back_and_leaves_the_rows_to_hand_back(services):
    stop = threading.Event()
    handled = []

    def handler(session, account, fact):
        handled.append(fact)
        if len(handled) == 2:
            stop.set()

    for n in range(5):
        put(services, invoice_event(f"evt_{n}", id=f"in_{n}"))
    result = ingest.ingest_once(services.sessions, services.clock, handler, batch_size=5,
                                batches=_PlainBatches(), worker_id="w1", stop_asked=stop.is_set)
    assert result.total == 0 and len(handled) == 2  # the third event was never started
    assert {r.status for r in rows(services).values()} == {InboxStatus.processing}
    assert ingest.release_claims_of(services.sessions, "w1") == 5
    assert {r.status for r in rows(services).values()} == {InboxStatus.pending}


def test_a_claim_made_while_the_worker_is_told_to_stop_is_rolled_back(services):
    """The stopping worker may have handed its claims back already: a claim committed after
    that would be held until its lease ran out."""
    for n in range(3):
        put(services, invoice_event(f"evt_{n}", id=f"in_{n}"))
    claimed = ingest.claim_events(services.sessions, services.clock, 3, "w1",
                                  stop_asked=lambda: True)
    assert claimed == []
    assert {r.status for r in rows(services).values()} == {InboxStatus.pending}
    assert {r.claimed_by for r in rows(services).values()} == {None}


def test_a_stop_asked_during_the_batch_reads_skips_the_rest_of_them(services):
    stop = threading.Event()
    handled = []

    class ReadsThenStops(_PlainBatches):
        read = []

        def prefetch(self, facts):
            for _account, fact in facts:
                self.read.append(fact)
                stop.set()  # told to stop during the first read
            return {}

    for n in range(5):
        put(services, invoice_event(f"evt_{n}", id=f"in_{n}"))
    result = ingest.ingest_once(services.sessions, services.clock,
                                lambda s, a, fact: handled.append(fact), batch_size=5,
                                batches=ReadsThenStops(), worker_id="w1", stop_asked=stop.is_set)
    assert len(ReadsThenStops.read) == 1 and handled == [] and result.total == 0
    assert ingest.release_claims_of(services.sessions, "w1") == 5
