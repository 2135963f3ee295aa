"""When the chaos driver wakes its workers, and when a run counts as settled: inbox rows a dead
worker claimed or a failed try put off keep the run unsettled and wake the workers in time, as
does a failure waiting for its decline details."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from models import ChargeAttempt, InboxStatus, WebhookEvent
from recovery.ingest.inbox import CLAIM_LEASE, release_stale_claims
from recovery.sandbox.chaos.settling import (
    DETAILS_REFRESH,
    PAST_LEASE,
    next_wakeup,
    unsettled,
)
from tests.recovery.ingest.test_inbox import invoice_event, put

INBOX = WebhookEvent.__table__


def set_row(services, event_id: str, **values) -> None:
    with services.sessions() as session:
        session.execute(update(INBOX).where(INBOX.c.stripe_event_id == event_id).values(**values))
        session.commit()


def wakeup(services, last_step=None):
    with services.db_engine.connect() as connection:
        return next_wakeup(connection, last_step=last_step)


def settled_state(services, on_the_way: int = 0):
    with services.sessions() as session:
        return unsettled(session, on_the_way)


def test_an_empty_engine_is_settled_and_has_no_wakeup(services):
    assert not settled_state(services)
    assert wakeup(services) is None
    assert settled_state(services, on_the_way=1).webhooks_on_the_way == 1
    assert settled_state(services, on_the_way=1)


def test_a_stored_event_not_yet_ingested_is_unsettled_and_due_at_once(services, clock):
    put(services, invoice_event("evt_new"))
    assert settled_state(services).unfinished_events == 1
    assert wakeup(services) == clock.now()


def test_a_row_put_off_by_a_failed_try_wakes_the_workers_at_its_backoff(services, clock):
    put(services, invoice_event("evt_later"))
    later = clock.now() + timedelta(minutes=20)
    set_row(services, "evt_later", next_attempt_at=later, tries=1)
    assert wakeup(services) == later
    assert settled_state(services).unfinished_events == 1


def test_a_dead_workers_inbox_claim_wakes_the_workers_once_its_lease_has_run_out(services, clock):
    put(services, invoice_event("evt_claimed"))
    set_row(services, "evt_claimed", status=InboxStatus.processing.value,
            claimed_at=clock.now(), claimed_by="chaos-0-0")
    assert settled_state(services).unfinished_events == 1
    moment = wakeup(services)
    assert moment == clock.now() + CLAIM_LEASE + PAST_LEASE
    # At that moment, and not a second before, the stale-claim job hands the row back.
    clock.set(moment - timedelta(seconds=2))
    assert release_stale_claims(services.sessions, clock) == 0
    clock.set(moment)
    assert release_stale_claims(services.sessions, clock) == 1


def test_work_a_step_already_met_moves_the_wakeup_past_that_step(services, clock):
    put(services, invoice_event("evt_stuck"))  # due now; the step at ``now`` left it pending
    assert wakeup(services, last_step=clock.now()) == clock.now() + PAST_LEASE
    assert wakeup(services, last_step=clock.now() - timedelta(minutes=1)) == clock.now()


def test_processed_and_failed_rows_are_settled(services):
    put(services, invoice_event("evt_done"))
    put(services, invoice_event("evt_given_up"))
    set_row(services, "evt_done", status=InboxStatus.processed.value)
    set_row(services, "evt_given_up", status=InboxStatus.failed.value)
    assert not settled_state(services)
    assert wakeup(services) is None


def test_a_failure_waiting_for_its_decline_details_wakes_the_refresh_job(services, clock):
    """Its case waits unplanned until the details are read: the workers are woken at the
    refresh job's next run, not whenever something else happens to be due."""
    with services.sessions() as session:
        session.add(ChargeAttempt(account_id=services.settings.account_id,
                                  stripe_invoice_id="in_waiting", attempted_at=clock.now(),
                                  details_pending=True, created_at=clock.now()))
        session.commit()
    assert wakeup(services) == clock.now() + DETAILS_REFRESH
    # A step an hour later could not read them either: the next run is a refresh period on.
    step = clock.now() + timedelta(hours=1)
    assert wakeup(services, last_step=step) == step + DETAILS_REFRESH
    assert not settled_state(services)  # waiting for Stripe is not work held by the engine
