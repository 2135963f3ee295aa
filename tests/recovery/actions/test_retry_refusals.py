"""What follows when Stripe does not charge: a refused ``pay`` on an open invoice never ends
dunning silently, and a 5xx (which Stripe replays for its idempotency key) is tried again under a
new key only once the invoice is known to be still open."""

from __future__ import annotations

import logging
from datetime import timedelta

import httpx
import pytest

from models import ActionKind, ActionStatus, CaseStatus, WaitingFor
from recovery.actions.retry import PROCESSING_RECHECK
from recovery.actions.runner import FAILED_ALERT, backoff
from recovery.worker.jobs import run_actions
from tests.recovery.actions.flow import (
    action,
    actions_of,
    engine_attempts,
    next_retry,
    open_case,
    run_next_retry,
    the_case,
)
from tests.recovery.stripe_stub import Decline

NO_PAYMENT_METHOD = {
    "type": "invalid_request_error",
    "message": "This customer has no attached payment source or default payment method. "
               "Please consider adding a default payment method.",
}
PROCESSING = {
    "type": "invalid_request_error", "code": "payment_intent_unexpected_state",
    "message": "This invoice's payment is processing and cannot be paid again.",
}
UNEXPLAINED = {"type": "invalid_request_error", "code": "invoice_not_editable",
               "message": "Something Stripe refuses for its own reasons."}
SERVER_ERROR = {"type": "api_error", "message": "An unknown error occurred"}


def test_no_payment_method_asks_the_customer_for_a_card(client, services, stub):
    open_case(client, services)
    stub.pay_errors.append((400, NO_PAYMENT_METHOD))
    retry = run_next_retry(services)

    case = the_case(services)
    assert (case.status, case.waiting_for) == (CaseStatus.open, WaitingFor.new_card)
    done = action(services, retry.id)
    assert done.status == ActionStatus.canceled and "no attached payment" in done.result["refused"]
    (notice,) = [a for a in actions_of(services, ActionKind.notify)
                 if a.params["template"] == "card_update_request"]
    assert notice.status == ActionStatus.scheduled
    (end,) = actions_of(services, ActionKind.end_dunning, ActionStatus.scheduled)
    assert end.due_at > services.clock.now()


def test_a_payment_still_processing_is_looked_at_again_later(client, services, stub):
    open_case(client, services)
    stub.pay_errors.append((400, PROCESSING))
    retry = run_next_retry(services)

    assert the_case(services).status == CaseStatus.open
    assert action(services, retry.id).status == ActionStatus.canceled
    recheck = next_retry(services)
    assert recheck.due_at == services.clock.now() + PROCESSING_RECHECK
    assert "processing" in recheck.reason
    assert engine_attempts(services) == []


def test_a_charge_accepted_but_not_settled_is_looked_at_again_not_retried(client, services,
                                                                          stub):
    open_case(client, services)
    stub.pay_results.append("processing")
    retry = run_next_retry(services)

    assert action(services, retry.id).status == ActionStatus.done
    recheck = next_retry(services)
    assert recheck.due_at == services.clock.now() + PROCESSING_RECHECK
    assert "processing" in recheck.reason
    stub.status = "paid"  # it settled meanwhile
    run_next_retry(services)
    assert stub.charges == 1 and the_case(services).status == CaseStatus.recovered


def test_an_unexplained_refusal_keeps_the_case_open_and_fails_loudly(client, services, stub,
                                                                     caplog):
    services.settings.action_max_tries = 2
    open_case(client, services)
    stub.pay_errors.extend([(400, UNEXPLAINED)] * 2)
    retry = run_next_retry(services)
    tried = action(services, retry.id)
    assert (tried.status, tried.tries) == (ActionStatus.scheduled, 1)
    assert "invoice_not_editable" in tried.last_error

    services.clock.set(tried.due_at)
    with caplog.at_level(logging.ERROR, logger="recovery.actions"):
        run_actions(services)
    assert action(services, retry.id).status == ActionStatus.failed
    assert any(r.getMessage() == FAILED_ALERT for r in caplog.records)
    assert the_case(services).status == CaseStatus.open


def test_a_refusal_on_an_invoice_paid_meanwhile_closes_the_case_as_paid(client, services, stub):
    open_case(client, services)
    stub.pay_errors.append((400, NO_PAYMENT_METHOD))
    stub.hooks["pay"] = lambda: setattr(stub, "status", "paid")  # the customer paid it
    retry = run_next_retry(services)
    assert the_case(services).status == CaseStatus.recovered
    assert action(services, retry.id).result == {"skipped": "invoice paid"}


def test_a_server_error_is_tried_again_under_a_new_key(client, services, stub):
    open_case(client, services)
    stub.pay_errors.append((500, SERVER_ERROR))
    retry = run_next_retry(services)

    again = action(services, retry.id)
    assert (again.status, again.tries) == (ActionStatus.scheduled, 1)
    assert again.idempotency_key == f"recovery:{retry.id}:1"
    assert again.due_at == services.clock.now() + backoff(1)
    # The invoice was read again after the 5xx, and its newest attempt (no new decline).
    assert "retrieve" in stub.calls[-2] and stub.calls[-1] == "invoice_payments"
    services.clock.set(again.due_at)
    run_actions(services)

    assert stub.pay_keys == [f"recovery:{retry.id}", f"recovery:{retry.id}:1"]
    assert the_case(services).status == CaseStatus.recovered


def test_a_server_error_after_the_charge_went_through_never_charges_again(client, services,
                                                                          stub):
    open_case(client, services)

    def charged_then_failed():
        stub.status = "paid"
        stub.pay_errors.append((500, SERVER_ERROR))

    stub.hooks["pay"] = charged_then_failed
    retry = run_next_retry(services)

    assert stub.pay_keys == [f"recovery:{retry.id}"]
    assert the_case(services).status == CaseStatus.recovered
    assert action(services, retry.id).status == ActionStatus.canceled


def test_a_server_error_after_a_decline_records_that_decline_as_the_retrys(client, services,
                                                                          stub):
    """The pay call was declined, with a Mastercard "retry after 4 days" (MAC 27), but its
    answer was replaced by a 5xx: the decline is read back, counted as the retry's, and its wait
    holds (no blind retry under a new key 30 s later)."""
    stub.brand = "mastercard"
    open_case(client, services)

    def declined_then_failed():
        stub.latest_charge_id = "ch_lost_answer"
        stub.first_decline = Decline(network_advice_code="27")
        stub.pay_errors.append((500, SERVER_ERROR))

    stub.hooks["pay"] = declined_then_failed
    retry = run_next_retry(services)

    (lost,) = engine_attempts(services)
    assert (lost.stripe_charge_id, lost.action_id) == ("ch_lost_answer", retry.id)
    assert action(services, retry.id).status == ActionStatus.done
    following = next_retry(services)
    assert following.due_at >= services.clock.now() + timedelta(days=4)


def test_server_errors_fail_the_retry_with_an_alert_after_its_tries(client, services, stub,
                                                                   caplog):
    services.settings.action_max_tries = 3
    open_case(client, services)
    stub.pay_errors.extend([(500, SERVER_ERROR)] * 3)
    retry = next_retry(services)
    with caplog.at_level(logging.ERROR, logger="recovery.actions"):
        for _ in range(3):
            services.clock.set(action(services, retry.id).due_at)
            run_actions(services)
    failed = action(services, retry.id)
    assert (failed.status, failed.tries) == (ActionStatus.failed, 3)
    assert stub.pay_keys == [f"recovery:{retry.id}", f"recovery:{retry.id}:1",
                             f"recovery:{retry.id}:2"]
    assert any(r.getMessage() == FAILED_ALERT for r in caplog.records)


@pytest.mark.parametrize("unavailable", [
    (429, {"type": "invalid_request_error", "code": "rate_limit", "message": "Too many"}),
    (409, {"type": "invalid_request_error", "code": "lock_timeout", "message": "Locked"}),
    httpx.ReadTimeout("timed out"),
])
def test_rate_limits_conflicts_and_timeouts_keep_the_key_and_never_fail(client, services, stub,
                                                                        unavailable):
    services.settings.action_max_tries = 2
    open_case(client, services)
    retry = next_retry(services)
    for _ in range(3):
        if isinstance(unavailable, Exception):
            stub.hooks["pay"] = _raise(unavailable)
        else:
            stub.pay_errors.append(unavailable)
        services.clock.set(action(services, retry.id).due_at)
        run_actions(services)
    deferred = action(services, retry.id)
    assert (deferred.status, deferred.tries) == (ActionStatus.scheduled, 0)  # none used up
    assert deferred.result["deferrals"] == 3
    assert deferred.idempotency_key == f"recovery:{retry.id}"
    stub.hooks.clear()
    services.clock.set(deferred.due_at)
    run_actions(services)
    assert set(stub.pay_keys) == {f"recovery:{retry.id}"}
    assert the_case(services).status == CaseStatus.recovered


def _raise(error: Exception):
    def hook():
        raise error
    return hook


def test_a_retry_waits_no_longer_than_the_backoff_cap(client, services, stub):
    open_case(client, services)
    retry = next_retry(services)
    for _ in range(9):
        stub.pay_errors.append((429, {"type": "invalid_request_error", "code": "rate_limit",
                                      "message": "Too many"}))
        services.clock.set(action(services, retry.id).due_at)
        run_actions(services)
    assert action(services, retry.id).due_at - services.clock.now() == timedelta(hours=1)
