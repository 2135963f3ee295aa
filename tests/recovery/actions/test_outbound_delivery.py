"""Outbound events reach a real local HTTP server signed the Standard Webhooks way: the receiver
verifies them with the ``standardwebhooks`` package; 5xx and 429 are tried again under the same
``webhook-id``, another 4xx fails at once, every try is in the delivery log, and a worker that dies
after the POST sends the same event again (harmless: the receiver drops it by id)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from models import ActionKind, ActionStatus, DeliveryOutcome
from recovery.accounts.outbound_endpoints import remove_endpoint
from recovery.actions import outbound_event as outbound_step
from recovery.actions import runner as actions
from recovery.runtime.clock import VirtualClock
from recovery.worker.jobs import run_actions
from tests.recovery.actions.flow import actions_of, deliver, failed_event
from tests.recovery.outbound_flow import (
    add_endpoint,
    deliveries,
    delivery_log,
    events,
    outbound_settings,
)
from tests.webhooks import payloads as p


@pytest.fixture
def clock() -> VirtualClock:
    # Receivers judge a signature's age by their real time: start the clock at it.
    return VirtualClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def settings(settings):
    return outbound_settings(settings, action_max_tries=3)


class WorkerKilled(BaseException):
    """The process dies after the receiver answered: not an error the runner could record."""


def open_case_with_endpoint(client, services, receiver, event_types=("case.opened",)):
    """An endpoint for ``event_types``, then a failed renewal: its ``case.opened`` is queued."""
    created = add_endpoint(services, receiver.url, list(event_types))
    deliver(client, services, failed_event(services))
    return created


def send_due(services) -> None:
    """Run the due actions (the case's own steps too: taking ownership, the first notice)."""
    run_actions(services)


def test_the_receiver_verifies_the_event_with_the_standard_webhooks_package(
        client, services, stub, receiver):
    created = open_case_with_endpoint(client, services, receiver)
    send_due(services)

    (received,) = receiver.requests
    assert received.path == "/hooks"
    assert received.headers["content-type"] == "application/json"
    event = Webhook(created.secret).verify(received.body, received.headers)
    (stored,) = events(services)
    assert event["id"] == received.headers["webhook-id"] == stored.event_id
    assert event["id"].startswith("evt_") and event["type"] == "case.opened"
    case = event["data"]["case"]
    assert (case["invoice_id"], case["customer_id"], case["amount_due"], case["currency"],
            case["status"]) == (p.INVOICE_ID, p.CUSTOMER_ID, 2500, "usd", "open")
    # Nothing of the card beyond the decline's class, and no secret.
    text = received.body.decode()
    assert p.FINGERPRINT not in text and p.PAYMENT_METHOD_ID not in text
    assert created.secret not in text

    with pytest.raises(WebhookVerificationError):
        Webhook(created.secret).verify(received.body.replace(b"open", b"paid"), received.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "QUJD" * 8).verify(received.body, received.headers)
    (logged,) = delivery_log(services)
    assert (logged.outcome, logged.status_code, logged.error) == ("delivered", 200, None)
    assert logged.duration_ms >= 0 and logged.endpoint_id == created.endpoint.id
    (action,) = deliveries(services)
    assert action.status == ActionStatus.done


def test_a_5xx_is_tried_again_and_delivered_once_with_the_same_id(
        client, services, stub, receiver):
    created = open_case_with_endpoint(client, services, receiver)
    receiver.answer(503)
    send_due(services)

    (action,) = deliveries(services)
    assert (action.status, action.tries) == (ActionStatus.scheduled, 1)
    assert action.due_at == services.clock.now() + timedelta(seconds=30)
    assert "HTTP 503" in action.last_error
    send_due(services)
    assert len(receiver.requests) == 1  # not before its backoff

    services.clock.advance(timedelta(seconds=30))
    send_due(services)
    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.body == second.body
    assert int(second.headers["webhook-timestamp"]) == \
        int(first.headers["webhook-timestamp"]) + 30  # each try signed when it is made
    for received in (first, second):
        Webhook(created.secret).verify(received.body, received.headers)
    assert [(row.outcome, row.status_code) for row in delivery_log(services)] == [
        (DeliveryOutcome.transient, 503), (DeliveryOutcome.delivered, 200)]
    assert deliveries(services)[0].status == ActionStatus.done
    services.clock.advance(timedelta(hours=2))
    send_due(services)
    assert len(receiver.requests) == 2  # delivered: never sent again


def test_a_429_waits_for_the_receivers_retry_after(client, services, stub, receiver):
    open_case_with_endpoint(client, services, receiver)
    receiver.answer(429, retry_after="120")
    send_due(services)
    (action,) = deliveries(services)
    assert action.status == ActionStatus.scheduled
    assert action.due_at == services.clock.now() + timedelta(seconds=120)
    (logged,) = delivery_log(services)
    assert (logged.outcome, logged.status_code) == (DeliveryOutcome.transient, 429)


def test_a_refusal_fails_at_once_without_more_tries(client, services, stub, receiver, caplog):
    open_case_with_endpoint(client, services, receiver)
    receiver.answer(400)
    send_due(services)
    (action,) = deliveries(services)
    assert (action.status, action.tries) == (ActionStatus.failed, 1)
    assert action.last_error.startswith("HTTP 400")
    assert outbound_step.REFUSED_ALERT in caplog.text
    services.clock.advance(timedelta(days=1))
    send_due(services)
    assert len(receiver.requests) == 1
    (logged,) = delivery_log(services)
    assert (logged.outcome, logged.status_code) == (DeliveryOutcome.refused, 400)
    assert "not today" in logged.error  # the receiver's own words, cut short


def test_a_receiver_down_for_good_uses_up_the_tries_then_the_event_fails(
        client, services, stub, receiver):
    open_case_with_endpoint(client, services, receiver)
    for _ in range(5):
        receiver.answer(500)
    for _ in range(5):
        send_due(services)
        services.clock.advance(timedelta(hours=1))
    assert len(receiver.requests) == 3  # action_max_tries
    (action,) = deliveries(services)
    assert (action.status, action.tries) == (ActionStatus.failed, 3)
    assert [row.outcome for row in delivery_log(services)] == [DeliveryOutcome.transient] * 3
    assert len(set(receiver.ids())) == 1


def test_no_connection_is_logged_and_tried_again(client, services, stub, receiver):
    url = receiver.url
    receiver.stop()  # nothing listens there any more
    add_endpoint(services, url, ["case.opened"])
    deliver(client, services, failed_event(services))
    send_due(services)
    (logged,) = delivery_log(services)
    assert (logged.outcome, logged.status_code) == (DeliveryOutcome.transient, None)
    assert "ConnectError" in logged.error
    assert deliveries(services)[0].status == ActionStatus.scheduled
    receiver.start()  # the fixture stops it at the end


def test_a_worker_dying_after_the_post_sends_the_same_event_again(
        client, services, stub, receiver, monkeypatch):
    created = open_case_with_endpoint(client, services, receiver)

    def die(*args, **kwargs):
        raise WorkerKilled("worker killed after the receiver answered")

    monkeypatch.setattr(outbound_step, "log_try", die)
    with pytest.raises(WorkerKilled):
        send_due(services)
    monkeypatch.undo()
    assert len(receiver.requests) == 1 and delivery_log(services) == []
    assert deliveries(services)[0].status == ActionStatus.claimed

    services.clock.advance(actions.LEASE + timedelta(seconds=1))
    actions.release_stale_actions(services.sessions, services.clock)
    send_due(services)
    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"]  # dropped as a duplicate
    assert first.body == second.body
    # Signed anew, 5 minutes later on the engine's clock: checked without the receiver's age limit.
    signed_at = datetime.fromtimestamp(int(second.headers["webhook-timestamp"]), UTC)
    assert Webhook(created.secret).sign(second.headers["webhook-id"], signed_at,
                                        second.body.decode()) == second.headers["webhook-signature"]
    assert [row.outcome for row in delivery_log(services)] == [DeliveryOutcome.delivered]
    assert deliveries(services)[0].status == ActionStatus.done


def test_a_removed_endpoint_receives_nothing_more(client, services, stub, receiver):
    created = open_case_with_endpoint(client, services, receiver)
    remove_endpoint(services.sessions, services.clock, services.settings.account_id,
                    created.endpoint.id)
    send_due(services)
    assert receiver.requests == []
    (action,) = deliveries(services)
    assert action.status == ActionStatus.canceled


def test_outbound_events_go_on_while_stripe_refuses_the_accounts_key(
        client, services, stub, receiver):
    open_case_with_endpoint(client, services, receiver)
    stub.outage = (401, {"type": "invalid_request_error", "message": "Invalid API Key provided"})
    send_due(services)  # taking ownership meets the 401: the account's Stripe actions pause
    assert actions_of(services, ActionKind.take_ownership)[0].status == ActionStatus.paused
    assert len(receiver.requests) == 1
    assert deliveries(services)[0].status == ActionStatus.done
