"""The inbox's batch insert and the receiver's writer thread, on each database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from sqlmodel import select

from models import InboxStatus, WebhookEvent
from webhooks.inbox import entry_from_payload, inbox_row, store_rows
from webhooks.inbox_writer import InboxWriter


def payload(event_id: str, **extra) -> dict:
    return {"id": event_id, "object": "event", "type": "invoice.payment_failed",
            "api_version": "2026-10-28.endive", "created": 1793973600, "livemode": True,
            "data": {"object": {"id": "in_1", "object": "invoice", "note": "çé 😀 \\ \""}},
            **extra}


def rows(*event_ids: str, received_at: datetime) -> list[dict]:
    return [inbox_row("acct_default", entry_from_payload(payload(event_id)), received_at)
            for event_id in event_ids]


def stored(services) -> dict[str, WebhookEvent]:
    with services.sessions() as session:
        return {row.stripe_event_id: row for row in session.exec(select(WebhookEvent))}


@pytest.mark.parametrize("batch", [1, 2, 3, 60, 500])
def test_a_batch_reads_back_as_the_orm_wrote_it(services, clock, batch):
    received_at = clock.now() + timedelta(microseconds=123)
    event_ids = [f"evt_batch_{number}" for number in range(batch)]
    with services.sessions() as session:
        inserted = store_rows(session, rows(*event_ids, received_at=received_at))
        session.commit()
    assert inserted == {("acct_default", event_id) for event_id in event_ids}
    row = stored(services)[event_ids[-1]]
    assert row.created_at == datetime.fromtimestamp(1793973600, UTC)
    assert row.received_at == received_at and row.received_at.tzinfo is not None
    assert row.livemode is True and row.thin is False and row.tries == 0
    assert row.status == InboxStatus.pending
    assert row.payload == payload(event_ids[-1])


def test_only_events_not_stored_yet_are_inserted_and_reported(services, clock):
    with services.sessions() as session:
        store_rows(session, rows("evt_old", received_at=clock.now()))
        session.commit()
    with services.sessions() as session:
        inserted = store_rows(session, rows("evt_old", "evt_new", "evt_new",
                                            received_at=clock.now()))
        session.commit()
    assert inserted == {("acct_default", "evt_new")}
    assert sorted(stored(services)) == ["evt_new", "evt_old"]


def test_nothing_is_kept_when_the_caller_does_not_commit(services, clock):
    with services.sessions() as session:
        store_rows(session, rows("evt_rolled_back", received_at=clock.now()))
        session.rollback()
    assert stored(services) == {}


def test_the_writer_takes_a_fresh_connection_after_its_own_was_dropped(services, clock):
    if services.db_engine.dialect.name != "postgresql":
        pytest.skip("a server that drops a connection: PostgreSQL")
    writer = InboxWriter(services.sessions, clock)

    async def store(event_id: str) -> bool:
        return await writer.store("acct_default", entry_from_payload(payload(event_id)))

    try:
        assert asyncio.run(store("evt_before")) is True
        # As after a database restart: the connection the pool holds for the writer is dead.
        admin_url = services.db_engine.url.set(drivername="postgresql")
        with psycopg.connect(admin_url.render_as_string(hide_password=False),
                             autocommit=True) as admin:
            ended = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchone()[0]
        assert ended >= 1
        # The batch fails on the dead connection, and is written again on a new one.
        assert asyncio.run(store("evt_after")) is True
        assert asyncio.run(store("evt_after")) is False
    finally:
        writer.stop()
    services.db_engine.dispose()  # other pooled connections died too
    assert sorted(stored(services)) == ["evt_after", "evt_before"]
