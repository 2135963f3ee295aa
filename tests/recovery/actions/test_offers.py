"""Accepting an offer applies it through Stripe (a coupon in the subscription's ``discounts``, or
``pause_collection``) and plans what follows: a prompt retry after a discount, a held case during
a pause. Acceptance is idempotent, and a Stripe failure leaves the offer accepted until the action
runner applies it, once."""

from __future__ import annotations

from datetime import timedelta

from models import ActionKind, ActionStatus, CaseStatus, Offer, OfferStatus, RecoveryCase
from recovery.actions.offer import accept_offer
from recovery.offers.eligibility import OfferRule
from recovery.offers.records import add_months, make_offer
from recovery.worker.jobs import run_actions
from tests.recovery.actions.flow import actions_of, open_case, run_next_retry
from tests.webhooks import payloads as p

DISCOUNT = OfferRule(kind="discount", percent_off=25, months=3)
PAUSE = OfferRule(kind="pause", months=2)
SERVER_ERROR = {"type": "api_error", "message": "Something went wrong on Stripe's end."}


def shown_offer(services, case: RecoveryCase, rule: OfferRule) -> Offer:
    with services.sessions() as session:
        offer = make_offer(session, session.get(RecoveryCase, case.id), rule,
                           services.clock.now(), "final_notice")
        session.commit()
        session.refresh(offer)
        return offer


def the_offer(services, offer_id: int) -> Offer:
    with services.sessions() as session:
        return session.get(Offer, offer_id)


def case_of(services, case_id: int) -> RecoveryCase:
    with services.sessions() as session:
        return session.get(RecoveryCase, case_id)


def accept(services, offer_id: int) -> str:
    return accept_offer(services.steps, services.settings.account_id, offer_id,
                        worker_id=services.worker_id)


def test_accepting_a_discount_applies_the_coupon_and_retries_at_once(client, services, stub):
    case = open_case(client, services)
    (planned,) = actions_of(services, ActionKind.retry, ActionStatus.scheduled)
    services.clock.set(services.clock.now() + timedelta(hours=30))  # past the 24 h spacing
    offer = shown_offer(services, case, DISCOUNT)

    assert accept(services, offer.id) == OfferStatus.applied

    (coupon,) = stub.coupons.values()
    assert (coupon["percent_off"], coupon["duration"], coupon["duration_in_months"]) == \
        (25.0, "repeating", 3)
    (update,) = stub.subscription_updates
    assert update == {"discounts[0][coupon]": coupon["id"]}
    (key,) = stub.coupons
    assert key == f"offer:{offer.id}:coupon"
    applied = the_offer(services, offer.id)
    assert (applied.coupon_id, applied.applied_at) == (coupon["id"], services.clock.now())
    (retry,) = actions_of(services, ActionKind.retry, ActionStatus.scheduled)
    assert retry.id != planned.id and retry.due_at == services.clock.now()
    assert "accepted 25% off for 3 months" in retry.reason
    assert retry.params["payment_method"] == p.PAYMENT_METHOD_ID  # the card the rules checked
    assert actions_of(services, ActionKind.retry)[0].status == ActionStatus.canceled

    run_next_retry(services)  # the retry pays the invoice
    assert case_of(services, case.id).recovered_by == "offer"
    assert the_offer(services, offer.id).recovered is True


def test_the_prompt_retry_waits_for_the_networks_spacing(client, services, stub):
    case = open_case(client, services)  # the first attempt failed just now
    offer = shown_offer(services, case, DISCOUNT)
    assert accept(services, offer.id) == OfferStatus.applied
    (retry,) = actions_of(services, ActionKind.retry, ActionStatus.scheduled)
    assert retry.due_at >= case.first_failed_at + timedelta(hours=24)
    assert retry.due_at < case.first_failed_at + timedelta(hours=24 + 13)  # not a day later


def test_accepting_a_pause_pauses_collection_and_holds_the_case(client, services, stub):
    case = open_case(client, services)
    offer = shown_offer(services, case, PAUSE)

    assert accept(services, offer.id) == OfferStatus.applied

    resumes = add_months(services.clock.now(), 2)
    (update,) = stub.subscription_updates
    assert update == {"pause_collection[behavior]": "void",
                      "pause_collection[resumes_at]": str(int(resumes.timestamp()))}
    assert stub.coupons == {}
    (retry,) = actions_of(services, ActionKind.retry, ActionStatus.scheduled)
    assert resumes <= retry.due_at < resumes + timedelta(hours=12)  # after quiet hours, if any
    assert actions_of(services, ActionKind.end_dunning, ActionStatus.scheduled) == []
    held = case_of(services, case.id)
    assert (held.status, held.waiting_for) == (CaseStatus.open, "retry")
    assert "collection paused for 2 months" in held.last_reason


def test_a_second_acceptance_does_nothing_more(client, services, stub):
    case = open_case(client, services)
    services.clock.set(services.clock.now() + timedelta(hours=30))
    offer = shown_offer(services, case, DISCOUNT)
    assert accept(services, offer.id) == OfferStatus.applied
    calls = list(stub.calls)

    assert accept(services, offer.id) == OfferStatus.applied

    assert stub.calls == calls and len(stub.coupons) == 1
    assert len(actions_of(services, ActionKind.apply_offer)) == 1
    assert len(actions_of(services, ActionKind.retry, ActionStatus.scheduled)) == 1


def test_a_stripe_failure_leaves_the_offer_accepted_and_the_runner_applies_it_once(
        client, services, stub):
    case = open_case(client, services)
    (planned,) = actions_of(services, ActionKind.retry, ActionStatus.scheduled)
    offer = shown_offer(services, case, DISCOUNT)
    stub.offer_errors.append((500, SERVER_ERROR))

    assert accept(services, offer.id) == OfferStatus.accepted

    (apply,) = actions_of(services, ActionKind.apply_offer)
    assert (apply.status, apply.tries) == (ActionStatus.scheduled, 1)
    assert apply.idempotency_key == f"recovery:{apply.id}:1"  # Stripe stored the 5xx
    assert stub.coupons == {} and stub.subscription_updates == []
    assert the_offer(services, offer.id).accepted_at is not None
    assert accept(services, offer.id) == OfferStatus.accepted  # still waiting: nothing more

    services.clock.set(apply.due_at)
    run_actions(services)

    assert the_offer(services, offer.id).status == OfferStatus.applied
    assert list(stub.coupons) == [f"offer:{offer.id}:1:coupon"]
    assert len(stub.subscription_updates) == 1
    (retry,) = actions_of(services, ActionKind.retry, ActionStatus.scheduled)
    assert retry.id != planned.id and "accepted 25% off" in retry.reason


def test_an_offer_accepted_while_its_case_was_open_is_applied_after_it_recovers(
        client, services, stub):
    case = open_case(client, services)
    offer = shown_offer(services, case, DISCOUNT)
    stub.offer_errors.append((503, SERVER_ERROR))
    assert accept(services, offer.id) == OfferStatus.accepted

    with services.sessions() as session:  # the customer pays before the offer is applied
        services.engine.invoice_settled_elsewhere(session, session.get(RecoveryCase, case.id),
                                                  "paid")
        session.commit()
    recovered = case_of(services, case.id)
    assert (recovered.status, recovered.recovered_by) == (CaseStatus.recovered, "offer")
    (apply,) = actions_of(services, ActionKind.apply_offer)
    services.clock.set(max(apply.due_at, services.clock.now()))
    run_actions(services)

    assert the_offer(services, offer.id).status == OfferStatus.applied  # the promise is kept
    assert len(stub.subscription_updates) == 1
    assert actions_of(services, ActionKind.retry, ActionStatus.scheduled) == []


def test_an_offer_accepted_after_its_case_ended_expires(client, services, stub):
    case = open_case(client, services)
    offer = shown_offer(services, case, DISCOUNT)
    with services.sessions() as session:
        session.get(RecoveryCase, case.id).status = CaseStatus.recovered.value
        session.commit()

    assert accept(services, offer.id) == OfferStatus.expired
    assert stub.coupons == {} and actions_of(services, ActionKind.apply_offer) == []


def test_an_offer_for_a_canceled_subscription_fails_without_a_coupon(client, services, stub):
    case = open_case(client, services)
    offer = shown_offer(services, case, DISCOUNT)
    stub.subscription_status = "canceled"

    assert accept(services, offer.id) == OfferStatus.failed
    assert the_offer(services, offer.id).error == "subscription canceled"
    assert stub.coupons == {} and stub.subscription_updates == []


def test_an_unknown_offer_is_not_found(client, services, stub):
    import pytest

    from recovery.errors import NotFound

    with pytest.raises(NotFound):
        accept(services, 999)
