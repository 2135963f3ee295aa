"""Every recurring job and its schedule. Jobs are plain functions of ``Services``; the scheduler
only ticks them, and the database is the schedule."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlmodel import select

from models import Account
from recovery.actions.card_expiring import send_card_expiring_notices
from recovery.actions.contact_check import unsubscribed_of
from recovery.actions.message_content import Recipient, read_recipient
from recovery.actions.runner import (
    release_actions_claimed_by,
    release_stale_actions,
    run_due_actions,
)
from recovery.engine.card_expiry import expiring_cards
from recovery.engine.policies import uses_smart_timing
from recovery.ingest.decline_details import refresh_decline_details
from recovery.ingest.inbox import ingest_once, release_claims_of, release_stale_claims
from recovery.ingest.thin_events import SnapshotReader, fetch_thin_events
from recovery.messaging.delivery import resend_pending
from recovery.runtime.db import SessionFactory
from recovery.scoring.retraining import Retrainer
from recovery.wiring import Services

log = logging.getLogger("recovery.jobs")


@dataclass(frozen=True)
class JobSpec:
    name: str
    every_seconds: float
    run: Callable[[Services], object]


def ingest_inbox(services: Services) -> int:
    """Drain the inbox batch by batch, until it is empty or the process stops; returns how
    many rows were handled."""
    total = 0
    while not services.stopping.is_set():
        result = ingest_once(
            services.sessions, services.clock, services.handler,
            batch_size=services.settings.ingest_batch_size,
            max_tries=services.settings.ingest_max_tries, batches=services.engine,
            worker_id=services.worker_id, stop_asked=services.stopping.is_set,
        )
        total += result.total
        if result.total < services.settings.ingest_batch_size or services.give_way():
            break
    return total


def fetch_thin_event_snapshots(services: Services) -> int:
    """Fetch the snapshot of every due thin event, batch by batch; returns how many rows were
    handled. Without Stripe wired in there is nothing to fetch with."""
    if services.engine is None:
        return 0
    reader = SnapshotReader(services.engine.gateway, services.accounts.stripe_account_of)
    total, batch = 0, services.settings.ingest_batch_size
    while not services.stopping.is_set():
        result = fetch_thin_events(services.sessions, services.clock, reader, batch_size=batch,
                                   max_tries=services.settings.ingest_max_tries,
                                   worker_id=services.worker_id,
                                   should_stop=services.stopping.is_set)
        total += result.total
        if result.total < batch or services.give_way():
            break
    return total


def refresh_pending_decline_details(services: Services) -> int:
    """Fill in the decline details of failures recorded while Stripe could not be read."""
    if services.engine is None:
        return 0
    return refresh_decline_details(services.sessions, services.engine)


def release_stale_inbox_claims(services: Services) -> int:
    return release_stale_claims(services.sessions, services.clock)


def run_actions(services: Services) -> int:
    """Run every due action, batch by batch."""
    if services.steps is None:
        return 0
    total, batch = 0, services.settings.action_batch_size
    while not services.stopping.is_set():
        result = run_due_actions(services.sessions, services.clock, services.steps,
                                 worker_id=services.worker_id, batch_size=batch,
                                 max_tries=services.settings.action_max_tries,
                                 should_stop=services.stopping.is_set)
        total += result.total
        if result.total < batch or services.give_way():
            break
    return total


def release_stale_action_claims(services: Services) -> int:
    return release_stale_actions(services.sessions, services.clock)


def resend_pending_messages(services: Services) -> int:
    """Deliver again, with the same message id, messages still pending after the grace period
    (a crash after they were written, or a channel that refused them)."""
    if services.channel is None:
        return 0
    total, batch = 0, services.settings.action_batch_size
    while not services.stopping.is_set():
        result = resend_pending(services.sessions, services.clock, services.channel,
                                max_tries=services.settings.message_max_tries, batch_size=batch)
        total += result.total
        if result.total < batch or services.give_way():
            break
    return total


def sweep_expiring_cards(services: Services) -> int:
    """Pre-dunning: tell customers whose card on file expires soon (one notice per card and
    expiry); returns how many notices were written."""
    if services.engine is None or services.channel is None:
        return 0
    communication_for = services.engine.planner.communication
    with services.sessions() as session:
        cards = expiring_cards(session, services.clock.now(), communication_for)
    unsubscribed = services.steps.context.unsubscribed if services.steps else unsubscribed_of
    engine = services.engine

    def recipient_of(account_id: str, customer_id: str) -> Recipient:
        return read_recipient(engine.gateway, customer_id, None,
                              engine.stripe_account_of(account_id))

    result = send_card_expiring_notices(
        services.sessions, services.clock, services.channel, cards, communication_for,
        unsubscribed=unsubscribed, max_tries=services.settings.message_max_tries,
        content=services.steps.context.content if services.steps else None,
        recipient_of=recipient_of)
    return result.total


def retrain_scorers(services: Services) -> int:
    """Retrain the scorer of every account whose policy (or one of its segments, or a version
    its running experiment tries) times its retries smartly; returns how many accounts got a
    new version promoted."""
    with services.sessions() as session:
        smart = [account.id for account in session.exec(select(Account))
                 if uses_smart_timing(session, account)]
    if services.retrainer is None:
        services.retrainer = Retrainer(min_attempts=services.settings.smart_min_attempts)
    outcomes = services.retrainer.retrain(services.sessions, services.clock, smart)
    return sum(1 for outcome in outcomes if outcome.promoted)


def release_own_claims(services: Services) -> int:
    """What this worker still holds (inbox rows, actions) goes back to the queue: called when
    it stops, so that other workers need not wait for the leases to run out."""
    return release_claims_held_by(services.sessions, services.worker_id)


def release_claims_held_by(sessions: SessionFactory, worker_id: str) -> int:
    """Hand back every inbox row and action ``worker_id`` holds: that worker is stopping, or
    its process is gone (``recovery serve`` calls it once its worker child has exited)."""
    return (release_claims_of(sessions, worker_id)
            + release_actions_claimed_by(sessions, worker_id))


def job_specs(tick_seconds: float, retrain_every_hours: float = 24.0) -> list[JobSpec]:
    return [
        JobSpec("fetch_thin_events", tick_seconds, fetch_thin_event_snapshots),
        JobSpec("ingest_inbox", tick_seconds, ingest_inbox),
        JobSpec("refresh_decline_details", 30, refresh_pending_decline_details),
        JobSpec("run_actions", tick_seconds, run_actions),
        JobSpec("release_stale_inbox_claims", 60, release_stale_inbox_claims),
        JobSpec("release_stale_action_claims", 60, release_stale_action_claims),
        JobSpec("resend_pending_messages", 60, resend_pending_messages),
        JobSpec("retrain_scorers", retrain_every_hours * 3600, retrain_scorers),
        JobSpec("sweep_expiring_cards", 24 * 3600, sweep_expiring_cards),
    ]
