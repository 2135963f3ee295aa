"""Smart timing in the pure policy: validation of ``timing`` and ``exploration``, the candidate
hours (exactly the whole hours every rule allows), and what a scorer's answer becomes."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recovery.errors import PolicyError
from recovery.rules.candidate_hours import STRIPE_ATTEMPT_MARGIN, smart_candidates
from recovery.rules.declines import classify_decline
from recovery.rules.network_rules import AttemptRecord, check_attempt
from recovery.rules.policy import (
    BaselineScorer,
    Choice,
    RetryContext,
    RetryPolicy,
    plan_next_retry,
)
from recovery.scoring.smart import SmartScorer
from webhooks.facts import DeclineInfo

FAILED = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
NSF = classify_decline(DeclineInfo("card_declined", "insufficient_funds"), "visa")
DO_NOT_HONOR = classify_decline(DeclineInfo("card_declined", "do_not_honor"), "visa")
ZONES = ["UTC", "America/New_York", "Europe/Berlin", "Asia/Kolkata", "Australia/Sydney",
         "America/Sao_Paulo", "Pacific/Chatham", "Africa/Casablanca"]


def context(**changes) -> RetryContext:
    values = dict(now=FAILED, first_failed_at=FAILED, retries_done=0, classification=NSF,
                  card_fingerprint="fp", card_brand="visa", case_id=7, account_id="acct",
                  history=(AttemptRecord("fp", FAILED, False, NSF, "stripe"),))
    values.update(changes)
    return RetryContext(**values)


def test_timing_and_exploration_are_validated_with_a_clear_message():
    with pytest.raises(PolicyError, match="timing must be 'fixed' or 'smart', not 'clever'"):
        RetryPolicy(timing="clever")
    with pytest.raises(PolicyError, match="exploration must be a share between 0 and 0.5"):
        RetryPolicy(exploration=0.6)
    with pytest.raises(PolicyError, match="exploration"):
        RetryPolicy.from_dict({"exploration": "lots"})
    policy = RetryPolicy.from_dict({"timing": "smart", "exploration": 0.2})
    assert (policy.timing, policy.exploration) == ("smart", 0.2)
    assert RetryPolicy.from_dict(policy.to_dict()) == policy
    assert RetryPolicy().timing == "fixed" and RetryPolicy().exploration == 0.1


def test_a_fixed_policy_never_asks_the_scorer():
    class Refusing:
        version = "x"

        def choose_many(self, questions):
            raise AssertionError("a fixed policy asked the scorer")

    plan = plan_next_retry(RetryPolicy(), context(timezone="America/New_York"), Refusing())
    assert plan.at == datetime(2026, 11, 3, 14, 0, tzinfo=UTC)
    assert plan.reason == "retry 1 of 5, day 2, 09:00 local: insufficient_funds"
    assert (plan.propensity, plan.scorer_version) == (1.0, "fixed")


def test_smart_with_the_baseline_takes_the_earliest_allowed_hour():
    plan = plan_next_retry(RetryPolicy(timing="smart"), context(), BaselineScorer())
    assert plan.kind == "retry"
    assert plan.at == FAILED + timedelta(hours=24)  # one attempt per card per 24 h


class Declining:
    version = "no-1"

    def choose_many(self, questions):
        return [Choice(None, 1.0, "best chance 1%", {"best_chance": 0.01}, self.version)
                for _ in questions]


def test_a_declined_decision_ends_at_the_window_and_says_why():
    policy = RetryPolicy(timing="smart", window_days=10, offsets_days=(1, 4, 8))
    plan = plan_next_retry(policy, context(), Declining())
    assert (plan.kind, plan.at) == ("end", FAILED + timedelta(days=10))
    assert plan.reason == "no retry: not worth the card's fatigue (best chance 1%)"
    weak = plan_next_retry(policy, context(classification=DO_NOT_HONOR), Declining())
    assert weak.kind == "wait_new_card" and weak.notify_customer
    assert weak.reason.endswith("; asking for a new card")


def test_a_new_card_is_still_tried_within_minutes_under_smart_timing():
    now = FAILED + timedelta(days=2, hours=1)
    plan = plan_next_retry(RetryPolicy(timing="smart"), context(now=now, card_changed=True,
                                                                card_fingerprint="fp2"),
                           Declining())
    assert plan.kind == "retry" and plan.at - now <= timedelta(minutes=10)


def allowed_by_brute_force(policy: RetryPolicy, ctx: RetryContext, window_end) -> list:
    """Every whole hour in [now, window_end] judged one by one with zoneinfo and the rules."""
    zone = ZoneInfo(ctx.timezone)
    hour = datetime.fromtimestamp(math.ceil(ctx.now.timestamp() / 3600) * 3600, UTC)
    found = []
    while hour <= window_end:
        local = hour.astimezone(zone).hour
        start, end = policy.quiet_start_hour, policy.quiet_end_hour
        quiet = start != end and ((local >= start or local < end) if start > end
                                  else start <= local < end)
        near_stripe = (policy.ownership == "coexist" and ctx.stripe_next_attempt is not None
                       and abs(hour - ctx.stripe_next_attempt) < STRIPE_ATTEMPT_MARGIN)
        budget = check_attempt(ctx.card_fingerprint, ctx.card_brand, hour, ctx.history,
                               policy.limits, ctx.payment_method_kind)
        if not quiet and not near_stripe and budget.allowed:
            found.append(hour)
        hour += timedelta(hours=1)
    return found


DECLINES = [NSF, DO_NOT_HONOR,
            classify_decline(DeclineInfo("card_declined", "insufficient_funds",
                                         network_advice_code="27"), "mastercard"),
            classify_decline(DeclineInfo("card_declined", "processing_error"), "visa"),
            classify_decline(DeclineInfo("card_declined", "generic_decline",
                                         outcome_reason="previously_declined_do_not_retry"),
                             "visa"),
            None]


@st.composite
def cases(draw):
    window = draw(st.integers(3, 40))
    quiet = draw(st.tuples(st.integers(0, 23), st.integers(0, 23)))
    policy = RetryPolicy(
        timing="smart", window_days=window, offsets_days=(1,), max_retries=draw(st.integers(1, 6)),
        quiet_start_hour=quiet[0], quiet_end_hour=quiet[1],
        min_hours_between_attempts=draw(st.sampled_from([0, 12, 24, 36.5])),
        max_attempts_per_30_days=draw(st.integers(1, 10)),
        ownership=draw(st.sampled_from(["exclusive", "coexist"])),
        exploration=draw(st.sampled_from([0.0, 0.1, 0.5])))
    age = timedelta(minutes=draw(st.integers(0, (window - 1) * 24 * 60)))
    now = FAILED + age
    kind = draw(st.sampled_from([None, "card", "us_bank_account"]))
    history = tuple(
        AttemptRecord("fp", FAILED + timedelta(minutes=m), draw(st.booleans()),
                      draw(st.sampled_from(DECLINES)), draw(st.sampled_from(["stripe", "engine"])),
                      kind)
        for m in sorted(draw(st.lists(st.integers(-40 * 24 * 60, age // timedelta(minutes=1)),
                                      max_size=8))))
    stripe_at = now + timedelta(minutes=draw(st.integers(-600, 20 * 24 * 60)))
    ctx = context(now=now, history=history, timezone=draw(st.sampled_from(ZONES)),
                  card_brand=draw(st.sampled_from(["visa", "mastercard", "amex", None])),
                  classification=draw(st.sampled_from(DECLINES[:4])), payment_method_kind=kind,
                  retries_done=draw(st.integers(0, 3)),
                  stripe_next_attempt=stripe_at if draw(st.booleans()) else None,
                  case_id=draw(st.integers(1, 10**6)))
    return policy, ctx


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_smart_candidates_are_exactly_the_hours_every_rule_allows(case):
    policy, ctx = case
    window_end = ctx.first_failed_at + timedelta(days=policy.window_days)
    hours = smart_candidates(policy, ctx, ctx.now, window_end)
    found = [datetime.fromtimestamp(int(h) * 3600, UTC) for h in hours]
    assert found == allowed_by_brute_force(policy, ctx, window_end)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_the_smart_scorer_never_chooses_a_time_the_rules_forbid(case):
    policy, ctx = case
    plan = plan_next_retry(policy, ctx, SmartScorer())
    if plan.kind != "retry":
        return
    window_end = ctx.first_failed_at + timedelta(days=policy.window_days)
    assert ctx.now <= plan.at <= window_end
    assert plan.at in allowed_by_brute_force(policy, ctx, window_end)
    assert 0 < plan.propensity <= 1 and plan.scorer_version == "prior-1"
    assert np.isclose(plan.explanation["propensity"], plan.propensity, atol=1e-6)
