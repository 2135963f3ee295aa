"""Pure planning: schedules, local hours, quiet hours, decline classes, coexist mode, validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from recovery.errors import PolicyError
from recovery.rules.communication import CommunicationPolicy, opening_notice
from recovery.rules.declines import classify_decline
from recovery.rules.network_rules import AttemptRecord
from recovery.rules.policy import RetryContext, RetryPolicy, plan_next_retry
from webhooks.facts import DeclineInfo

FAILED = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
NSF = classify_decline(DeclineInfo("card_declined", "insufficient_funds"), "visa")


def context(**changes) -> RetryContext:
    values = dict(now=FAILED, first_failed_at=FAILED, retries_done=0, classification=NSF,
                  card_fingerprint="fp", card_brand="visa",
                  history=(AttemptRecord("fp", FAILED, False, NSF, "stripe"),))
    values.update(changes)
    return RetryContext(**values)


def test_retries_follow_the_offsets_at_the_local_hour_with_a_reason():
    policy = RetryPolicy(offsets_days=(3, 7), max_retries=2, window_days=14)
    plan = plan_next_retry(policy, context(timezone="America/New_York"))
    assert plan.kind == "retry"
    assert plan.at == datetime(2026, 11, 5, 14, 0, tzinfo=UTC)  # 09:00 in New York (EST)
    assert plan.reason == "retry 1 of 2, day 4, 09:00 local: insufficient_funds"


def test_quiet_hours_move_a_retry_to_the_morning():
    policy = RetryPolicy(offsets_days=(1,), max_retries=1, local_hour=23, window_days=10)
    plan = plan_next_retry(policy, context(timezone="Europe/Berlin"))
    assert plan.at.astimezone(UTC).hour == 7  # 08:00 Berlin (CET)


def test_attempts_run_out_then_dunning_ends():
    policy = RetryPolicy(offsets_days=(1, 2), max_retries=2)
    plan = plan_next_retry(policy, context(retries_done=2))
    assert plan.kind == "end"
    assert plan.reason == "no retry: 2 retries made (max 2)"


def test_stop_and_new_card_classes_wait_and_say_why():
    stolen = classify_decline(DeclineInfo("card_declined", "stolen_card"), "visa")
    plan = plan_next_retry(RetryPolicy(), context(classification=stolen))
    assert plan.kind == "wait_new_card"
    assert plan.reason == "no retry: card reported stolen (stop); waiting for a new card"
    auth = classify_decline(DeclineInfo("authentication_required"), "visa")
    assert plan_next_retry(RetryPolicy(), context(classification=auth)).kind == \
        "wait_authentication"


def test_a_new_card_is_retried_within_minutes():
    stolen = classify_decline(DeclineInfo("card_declined", "stolen_card"), "visa")
    now = FAILED + timedelta(days=2, hours=1)
    plan = plan_next_retry(RetryPolicy(), context(
        now=now, classification=stolen, card_changed=True, card_fingerprint="fp_new"))
    assert plan.kind == "retry" and plan.at - now <= timedelta(minutes=5)
    assert plan.reason.endswith("card updated")


def test_limited_retries_stop_early_and_ask_the_customer_for_a_new_card():
    generic = classify_decline(DeclineInfo("card_declined", "do_not_honor"), "visa")
    policy = RetryPolicy(offsets_days=(1, 2, 3, 4, 5, 6), max_retries=6)
    plan = plan_next_retry(policy, context(classification=generic, retries_done=3))
    assert (plan.kind, plan.notify_customer) == ("wait_new_card", True)
    assert plan.reason == "no retry: 3 retries made (max 3) after do_not_honor; " \
        "asking for a new card"
    assert plan.at == FAILED + timedelta(days=policy.window_days)


def test_coexist_mode_keeps_six_hours_from_stripes_own_attempt():
    stripe_at = datetime(2026, 11, 3, 16, 0, tzinfo=UTC)
    policy = RetryPolicy(offsets_days=(1,), max_retries=1, local_hour=None, ownership="coexist")
    plan = plan_next_retry(policy, context(stripe_next_attempt=stripe_at))
    assert abs(plan.at - stripe_at) >= timedelta(hours=6)
    exclusive = plan_next_retry(RetryPolicy(offsets_days=(1,), max_retries=1, local_hour=None),
                                context(stripe_next_attempt=stripe_at))
    assert exclusive.at == datetime(2026, 11, 3, 14, 0, tzinfo=UTC)


def test_the_window_bounds_every_retry():
    policy = RetryPolicy(offsets_days=(1,), max_retries=1, window_days=1, local_hour=None)
    plan = plan_next_retry(policy, context(now=FAILED + timedelta(days=1, minutes=1)))
    assert plan.kind == "end"


@pytest.mark.parametrize("bad", [
    {"offsets_days": [5, 2]}, {"offsets_days": [0]}, {"ownership": "shared"},
    {"end_invoice": "delete"}, {"max_attempts_per_30_days": 25}, {"local_hour": 25},
    {"offsets_days": [40], "window_days": 30}, {"colour": "blue"}, {"offsets_days": "abc"},
])
def test_invalid_policies_are_refused_with_a_reason(bad):
    with pytest.raises(PolicyError, match="invalid policy"):
        RetryPolicy.from_dict(bad)


def test_policy_round_trips_through_its_dict():
    policy = RetryPolicy(offsets_days=(2, 5), max_retries=2, end_subscription="pause")
    assert RetryPolicy.from_dict(policy.to_dict()) == policy


# No fingerprint, no blind retry

def test_a_card_without_a_fingerprint_is_not_retried_and_a_new_card_is_asked_for():
    plan = plan_next_retry(RetryPolicy(), context(card_fingerprint=None, history=()))
    assert (plan.kind, plan.notify_customer) == ("wait_new_card", True)
    assert "no fingerprint" in plan.reason


def test_a_changed_card_without_a_fingerprint_is_not_retried_either():
    plan = plan_next_retry(RetryPolicy(), context(card_fingerprint=None, card_changed=True))
    assert plan.kind == "wait_new_card"


def test_an_ach_debit_gets_two_retries_within_fourteen_days():
    nsf = classify_decline(DeclineInfo("insufficient_funds"), None)
    history = [AttemptRecord("ba_fp", FAILED, False, nsf, "stripe", kind="us_bank_account")]
    policy = RetryPolicy(offsets_days=(1, 4, 8, 14, 21), max_retries=5, local_hour=None)
    plans = []
    for retries_done in range(3):
        plan = plan_next_retry(policy, context(
            now=history[-1].at, classification=nsf, card_fingerprint="ba_fp", card_brand=None,
            retries_done=retries_done, history=tuple(history)))
        plans.append(plan)
        if plan.kind == "retry":
            history.append(AttemptRecord("ba_fp", plan.at, False, nsf, kind="us_bank_account"))
    assert [plan.kind for plan in plans] == ["retry", "retry", "wait_new_card"]
    assert plans[1].at - FAILED <= timedelta(days=14)


# Reconcile declines stop

@pytest.mark.parametrize("decline", [
    DeclineInfo("card_declined", "duplicate_transaction"),
    DeclineInfo("card_declined", "invalid_amount"),
    DeclineInfo("card_declined", "do_not_honor", network_advice_code="04"),
    DeclineInfo(outcome_type="manual_review"),
])
def test_reconcile_declines_stop_instead_of_looping(decline):
    label = classify_decline(decline, "mastercard")
    plan = plan_next_retry(RetryPolicy(), context(classification=label, card_brand="mastercard"))
    assert plan.kind == "wait_reconcile"
    assert plan.notify_customer is False
    assert "an operator must check" in plan.reason


# Notices follow the classification

def test_a_decline_that_asks_the_customer_to_call_the_bank_tells_them():
    call_issuer = classify_decline(DeclineInfo("card_declined", "call_issuer"), "visa")
    plan = plan_next_retry(RetryPolicy(), context(classification=call_issuer))
    assert (plan.kind, plan.notify_customer) == ("retry", True)
    assert opening_notice(CommunicationPolicy(), plan.kind,
                          call_issuer.decline_class.value) == "payment_failed"


def test_a_silent_stop_sends_no_card_update_request():
    radar = classify_decline(DeclineInfo(outcome_type="blocked",
                                         outcome_reason="highest_risk_level"), "visa")
    plan = plan_next_retry(RetryPolicy(), context(classification=radar))
    assert (plan.kind, plan.notify_customer) == ("wait_new_card", False)


def test_a_weak_soft_decline_is_retried_quietly():
    generic = classify_decline(DeclineInfo("card_declined", "generic_decline"), "visa")
    plan = plan_next_retry(RetryPolicy(), context(classification=generic))
    assert (plan.kind, plan.notify_customer) == ("retry", False)


def test_the_retry_policy_reads_its_fields_beside_the_other_policies_sections():
    policy = RetryPolicy.from_dict({"max_retries": 3, "communication": {"max_per_case": 2},
                                    "branding": {"name": "Acme"}})
    assert policy.max_retries == 3
    with pytest.raises(PolicyError, match="comunication is an unknown field"):
        RetryPolicy.from_dict({"max_retries": 3, "comunication": {}})
