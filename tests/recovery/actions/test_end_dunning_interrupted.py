"""An end of dunning that meets Stripe trouble between its two Stripe calls still ends the
subscription, once: a cancel whose answer was lost is read back rather than sent again (Stripe
does not replay a DELETE by key), one Stripe never got is sent again at once, and when the run is
cut short all the same, Stripe's event for the invoice step (carrying the action's key) does not
close the case under it."""

from __future__ import annotations

from models import ActionKind, ActionStatus, CaseStatus
from recovery.actions.end_dunning import CANCEL_SENDS
from recovery.errors import GatewayUnavailable
from recovery.worker.jobs import run_actions
from tests.recovery.actions.flow import action, actions_of, deliver, failed_event, the_case
from tests.recovery.stripe_stub import Decline
from tests.webhooks import payloads as p

UNAVAILABLE = {"type": "api_error", "message": "An unknown error occurred"}


def run_end_of_dunning(client, services, stub):
    """A case whose card can never be charged again, run up to its end of dunning; returns
    that action (its first run has happened)."""
    stub.first_decline = Decline("stolen_card", network_decline_code="43")
    deliver(client, services, failed_event(services))
    run_actions(services)
    (end,) = actions_of(services, ActionKind.end_dunning, ActionStatus.scheduled)
    services.clock.set(end.due_at)
    run_actions(services)
    return end


def run_again(services, action_id: int) -> None:
    services.clock.set(action(services, action_id).due_at)
    run_actions(services)


def test_the_invoice_steps_event_leaves_the_case_to_the_end_of_dunning(client, services, stub):
    # The subscription step: Stripe down for every send of the run.
    stub.cancel_errors.extend([(503, UNAVAILABLE, False)] * CANCEL_SENDS)
    end = run_end_of_dunning(client, services, stub)
    assert stub.calls.count("mark_uncollectible") == 1
    assert action(services, end.id).status == ActionStatus.scheduled  # deferred, same key
    # Stripe's event for the invoice step arrives before the action runs again.
    closed = p.invoice_event("invoice.marked_uncollectible", p.LATEST,
                             created=services.clock.now())
    closed["request"] = {"id": "req_end", "idempotency_key": f"recovery:{end.id}:invoice"}
    deliver(client, services, closed)
    assert the_case(services).status == CaseStatus.open

    run_again(services, end.id)
    assert stub.subscription_status == "canceled"
    assert stub.calls.count("mark_uncollectible") == 1
    assert the_case(services).status == CaseStatus.exhausted
    assert action(services, end.id).result == {"ended": ["subscription cancel"]}


def test_someone_elses_write_off_still_closes_the_case_elsewhere(client, services, stub):
    stub.first_decline = Decline("stolen_card", network_decline_code="43")
    deliver(client, services, failed_event(services))
    run_actions(services)
    # Marked uncollectible in the Dashboard: the event carries no key of the engine's.
    deliver(client, services, p.invoice_event("invoice.marked_uncollectible", p.LATEST,
                                              created=services.clock.now()))
    assert the_case(services).status == CaseStatus.closed_elsewhere
    assert actions_of(services, ActionKind.end_dunning, ActionStatus.scheduled) == []


def test_a_cancel_stripe_never_got_is_sent_again_at_once(client, services, stub):
    stub.cancel_errors.append((503, UNAVAILABLE, False))
    end = run_end_of_dunning(client, services, stub)
    assert stub.calls.count("cancel_subscription") == 2
    assert action(services, end.id).status == ActionStatus.done
    assert the_case(services).status == CaseStatus.exhausted


def test_a_cancel_whose_answer_was_lost_is_read_back_not_sent_again(client, services, stub):
    stub.cancel_errors.append((503, UNAVAILABLE, True))  # canceled, then the answer is lost
    end = run_end_of_dunning(client, services, stub)
    assert stub.calls.count("cancel_subscription") == 1
    assert action(services, end.id).status == ActionStatus.done
    assert the_case(services).status == CaseStatus.exhausted


def test_a_run_back_after_its_cancel_went_through_does_not_cancel_again(client, services, stub,
                                                                        monkeypatch):
    stub.cancel_errors.append((503, UNAVAILABLE, True))  # canceled, then the answer is lost
    gateway = services.engine.gateway

    def unreadable(*args, **kwargs):
        raise GatewayUnavailable("Stripe is unavailable: HTTP 503")

    monkeypatch.setattr(gateway, "retrieve_subscription", unreadable)  # nor can it be read back
    end = run_end_of_dunning(client, services, stub)
    monkeypatch.undo()
    assert action(services, end.id).status == ActionStatus.scheduled

    run_again(services, end.id)
    assert stub.calls.count("cancel_subscription") == 1
    assert action(services, end.id).status == ActionStatus.done
    assert the_case(services).status == CaseStatus.exhausted
