"""One bad action never stalls the queue: whatever fails in a step is recorded on that action
(tries, last error, a later due time, then ``failed`` with an alert), and the run goes on."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from models import ActionKind, ActionStatus, CaseStatus
from recovery.actions.runner import FAILED_ALERT, backoff
from recovery.engine import case_store
from recovery.wiring import wire_engine
from recovery.worker.jobs import run_actions
from tests.recovery.actions.flow import (
    action,
    actions_of,
    deliver,
    failed_event,
    next_retry,
    opening_notices,
    run_next_retry,
    the_case,
)

INVALID_REQUEST = {"type": "invalid_request_error", "code": "invoice_not_editable",
                   "message": "This invoice can no longer be edited."}
IDEMPOTENCY_CONFLICT = {"type": "idempotency_error",
                        "message": "Keys for idempotent requests can only be used with the same "
                                   "parameters they were first used with."}


@pytest.mark.parametrize("error", [INVALID_REQUEST, IDEMPOTENCY_CONFLICT],
                         ids=["invalid_request", "idempotency_conflict"])
def test_a_stripe_refusal_fails_its_action_and_the_next_one_still_runs(client, services, stub,
                                                                       error):
    stub.update_errors.append((400, error))
    deliver(client, services, failed_event(services))

    run_actions(services)  # taking ownership (refused) and the first notice, both due now

    (ownership,) = actions_of(services, ActionKind.take_ownership)
    assert (ownership.status, ownership.tries) == (ActionStatus.scheduled, 1)
    assert error["message"][:30] in ownership.last_error
    assert ownership.due_at == services.clock.now() + backoff(1)
    assert ownership.claimed_by is None
    (notice,) = opening_notices(services)
    assert notice.status == ActionStatus.done

    services.clock.set(ownership.due_at)
    run_actions(services)
    assert action(services, ownership.id).status == ActionStatus.done


def test_a_database_error_while_recording_fails_only_that_action(client, services, stub,
                                                                 monkeypatch):
    deliver(client, services, failed_event(services))
    run_actions(services)

    def violates_a_constraint(*args, **kwargs):
        raise IntegrityError("INSERT INTO charge_attempt ...", {}, Exception("duplicate key"))

    monkeypatch.setattr(services.engine, "record_retry_outcome", violates_a_constraint)
    retry = run_next_retry(services)

    failed = action(services, retry.id)
    assert (failed.status, failed.tries) == (ActionStatus.scheduled, 1)
    assert failed.last_error.startswith("IntegrityError")
    assert failed.idempotency_key == f"recovery:{retry.id}"  # nothing was stored by Stripe


def test_an_action_that_keeps_failing_is_failed_with_an_alert(client, services, stub, caplog):
    services.settings.action_max_tries = 3
    stub.update_errors.extend([(400, INVALID_REQUEST)] * 3)
    deliver(client, services, failed_event(services))
    (ownership,) = actions_of(services, ActionKind.take_ownership)
    with caplog.at_level(logging.ERROR, logger="recovery.actions"):
        for _ in range(3):
            services.clock.set(action(services, ownership.id).due_at)
            run_actions(services)

    failed = action(services, ownership.id)
    assert (failed.status, failed.tries) == (ActionStatus.failed, 3)
    assert failed.finished_at == services.clock.now()
    alerts = [r for r in caplog.records if r.getMessage() == FAILED_ALERT]
    assert len(alerts) == 1 and alerts[0].levelno == logging.ERROR
    assert alerts[0].action == ownership.id
    services.clock.set(services.clock.now() + backoff(8))
    run_actions(services)
    assert action(services, ownership.id).status == ActionStatus.failed  # never picked again


def test_a_channel_that_crashes_does_not_stop_the_run(client, services, stub):
    class BrokenChannel:
        def deliver(self, message):
            raise OSError("outbox disk full")

    wire_engine(services, services.engine.gateway, BrokenChannel())
    deliver(client, services, failed_event(services))
    run_actions(services)
    statuses = {a.kind: a.status for a in opening_notices(services)
                + actions_of(services, ActionKind.take_ownership)}
    assert statuses == {ActionKind.notify.value: ActionStatus.done,
                        ActionKind.take_ownership.value: ActionStatus.done}


def lost_connection(*args, **kwargs):
    raise OperationalError("SELECT ...", {}, Exception("server closed the connection"))


def test_trouble_that_is_not_the_actions_uses_no_try_and_never_makes_it_give_up(
        client, services, stub, monkeypatch):
    """A lost database connection and Stripe being unavailable put the retry off with its key;
    only its own failures count, so a charge it made is still recorded instead of abandoned."""
    services.settings.action_max_tries = 2
    deliver(client, services, failed_event(services))
    run_actions(services)
    retry = next_retry(services)
    with monkeypatch.context() as patch:
        patch.setattr(case_store, "card_history", lost_connection)  # read before the charge
        for _ in range(3):
            run_next_retry(services)
    stub.pay_errors.append((429, {"type": "invalid_request_error", "code": "rate_limit",
                                  "message": "Too many"}))
    run_next_retry(services)
    waiting = action(services, retry.id)
    assert (waiting.status, waiting.tries) == (ActionStatus.scheduled, 0)
    assert waiting.result["deferrals"] == 4
    assert waiting.due_at - services.clock.now() == backoff(4)  # the wait still grows
    assert waiting.idempotency_key == f"recovery:{retry.id}"

    # The charge goes through, then recording it fails for the action's own reason: one try
    # of two. Before, the four deferrals had already used up both, and the action gave up.
    with monkeypatch.context() as patch:
        patch.setattr(services.engine, "record_retry_outcome", lambda *a, **k: (_ for _ in ())
                      .throw(IntegrityError("INSERT ...", {}, Exception("duplicate key"))))
        run_next_retry(services)
    retried = action(services, retry.id)
    assert (retried.status, retried.tries) == (ActionStatus.scheduled, 1)
    assert stub.charges == 1

    run_next_retry(services)  # Stripe says paid: the case is closed, nothing charged again
    assert action(services, retry.id).status == ActionStatus.canceled
    assert the_case(services).status == CaseStatus.recovered
    assert stub.charges == 1
