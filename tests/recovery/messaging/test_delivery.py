"""A message is ``pending`` until its channel accepted it, and pending messages are re-sent with
the same message id: a crash between the commit and the delivery loses nothing."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlmodel import select

from models import ActionStatus, Message, MessageStatus
from recovery.messaging.delivery import FAILED_ALERT
from recovery.messaging.notifier import OutgoingMessage
from recovery.wiring import wire_engine
from recovery.worker.jobs import resend_pending_messages, run_actions
from tests.recovery.actions.flow import deliver, failed_event, messages, opening_notices


class WorkerKilled(BaseException):
    """The process dies between the commit and the delivery."""


class RecordingChannel:
    """A channel that notes each delivery, and what the ``message`` row said at that moment."""

    def __init__(self, services, failures: list[BaseException] | None = None) -> None:
        self.services = services
        self.failures = list(failures or [])
        self.delivered: list[OutgoingMessage] = []
        self.row_status_at_delivery: list[str] = []

    def deliver(self, message: OutgoingMessage) -> None:
        with self.services.sessions() as session:
            row = session.exec(select(Message).where(
                Message.message_id == message.message_id)).one()
            self.row_status_at_delivery.append(row.status)
        if self.failures:
            raise self.failures.pop(0)
        self.delivered.append(message)


@pytest.fixture
def channel(services):
    recording = RecordingChannel(services)
    wire_engine(services, services.engine.gateway, recording)
    return recording


def grace(services) -> timedelta:
    return timedelta(seconds=services.settings.message_resend_grace_seconds)


def test_a_message_is_pending_until_the_channel_accepts_it(client, services, stub, channel):
    deliver(client, services, failed_event(services))
    run_actions(services)

    (notice,) = opening_notices(services)
    assert channel.row_status_at_delivery == [MessageStatus.pending]
    (row,) = messages(services)
    assert (row.status, row.sent_at) == (MessageStatus.sent, services.clock.now())
    assert row.message_id == channel.delivered[0].message_id == f"<action-{notice.id}@" \
        "payment-recovery.invalid>"
    assert row.action_id == notice.id and row.created_at == services.clock.now()


def test_a_crash_before_delivery_leaves_it_pending_and_the_job_resends_it(client, services,
                                                                        stub, channel):
    channel.failures.append(WorkerKilled())
    deliver(client, services, failed_event(services))
    with pytest.raises(WorkerKilled):
        run_actions(services)
    (notice,) = opening_notices(services)
    assert notice.status == ActionStatus.done  # committed with the message, before the crash
    (row,) = messages(services)
    assert row.status == MessageStatus.pending

    services.clock.advance(grace(services) - timedelta(seconds=1))
    assert resend_pending_messages(services) == 0  # still within the grace period
    services.clock.advance(timedelta(seconds=1))
    assert resend_pending_messages(services) == 1

    (resent,) = channel.delivered
    assert resent.message_id == row.message_id and resent.kind == "payment_failed"
    assert resent.invoice_id == stub.invoice_id
    (row,) = messages(services)
    assert (row.status, row.sent_at) == (MessageStatus.sent, services.clock.now())
    assert resend_pending_messages(services) == 0  # sent: never again


def test_a_refusing_channel_is_retried_then_the_message_fails_with_an_alert(client, services,
                                                                           stub, channel,
                                                                           caplog):
    services.settings.message_max_tries = 3
    wire_engine(services, services.engine.gateway, channel)  # picks up the new limit
    channel.failures.extend(OSError("SMTP 451 try later") for _ in range(3))
    deliver(client, services, failed_event(services))
    run_actions(services)
    (row,) = messages(services)
    assert (row.status, row.tries) == (MessageStatus.pending, 1)
    assert "451" in row.error

    with caplog.at_level(logging.ERROR, logger="recovery.messaging"):
        for _ in range(2):
            services.clock.set(messages(services)[0].next_attempt_at)
            resend_pending_messages(services)
    (row,) = messages(services)
    assert (row.status, row.tries, row.next_attempt_at) == (MessageStatus.failed, 3, None)
    assert [r.getMessage() for r in caplog.records].count(FAILED_ALERT) == 1
    assert channel.delivered == []
    services.clock.advance(timedelta(days=1))
    assert resend_pending_messages(services) == 0


def test_two_workers_never_resend_the_same_message_at_once(client, services, stub, channel):
    """While one worker's re-send is with the channel, another worker's job passes it over."""
    channel.failures.append(WorkerKilled())
    deliver(client, services, failed_event(services))
    with pytest.raises(WorkerKilled):
        run_actions(services)
    services.clock.advance(grace(services))
    other_worker_sent = []
    original = channel.deliver

    def deliver_while_another_worker_runs(message):
        other_worker_sent.append(resend_pending_messages(services))
        original(message)

    channel.deliver = deliver_while_another_worker_runs
    assert resend_pending_messages(services) == 1
    assert other_worker_sent == [0]
    assert len(channel.delivered) == 1
