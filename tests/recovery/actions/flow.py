"""Driving the engine the way Stripe does in the action tests: real signed webhooks into the
app, the worker's jobs, and reads of what the engine wrote."""

from __future__ import annotations

from sqlmodel import select

from models import ActionKind, ActionStatus, ChargeAttempt, Message, RecoveryCase, ScheduledAction
from recovery.worker.jobs import ingest_inbox, run_actions
from tests.conftest import WEBHOOK_SECRET
from tests.webhooks import payloads as p
from tests.webhooks.signing import signed_request


def deliver(client, services, payload: dict) -> None:
    body, headers = signed_request(payload, WEBHOOK_SECRET, services.clock.now())
    assert client.post("/webhooks/stripe", content=body, headers=headers).status_code == 200
    ingest_inbox(services)


def failed_event(services, **fields) -> dict:
    fields.setdefault("created", services.clock.now())
    return p.invoice_event("invoice.payment_failed", p.LATEST, attempt_count=1, **fields)


def open_case(client, services) -> RecoveryCase:
    """A failed renewal whose first steps (taking ownership, the first notice) have run."""
    deliver(client, services, failed_event(services))
    run_actions(services)
    return the_case(services)


def the_case(services) -> RecoveryCase:
    with services.sessions() as session:
        return session.exec(select(RecoveryCase)).one()


def actions_of(services, kind: ActionKind, status: ActionStatus | None = None
               ) -> list[ScheduledAction]:
    with services.sessions() as session:
        query = select(ScheduledAction).where(ScheduledAction.kind == kind.value)
        if status is not None:
            query = query.where(ScheduledAction.status == status.value)
        return list(session.exec(query.order_by(ScheduledAction.id)))


def opening_notices(services) -> list[ScheduledAction]:
    """The notify actions due by now: the case's first message (its reminders and final notice
    are scheduled for later days)."""
    return [a for a in actions_of(services, ActionKind.notify)
            if a.due_at <= services.clock.now()]


def action(services, action_id: int) -> ScheduledAction:
    with services.sessions() as session:
        return session.get(ScheduledAction, action_id)


def next_retry(services) -> ScheduledAction:
    (retry,) = actions_of(services, ActionKind.retry, ActionStatus.scheduled)
    return retry


def run_next_retry(services) -> ScheduledAction:
    """Move the clock to the scheduled retry and run what is due."""
    retry = next_retry(services)
    services.clock.set(retry.due_at)
    run_actions(services)
    return retry


def engine_attempts(services) -> list[ChargeAttempt]:
    with services.sessions() as session:
        return list(session.exec(select(ChargeAttempt).where(ChargeAttempt.by == "engine")
                                 .order_by(ChargeAttempt.id)))


def messages(services) -> list[Message]:
    with services.sessions() as session:
        return list(session.exec(select(Message).order_by(Message.id)))
