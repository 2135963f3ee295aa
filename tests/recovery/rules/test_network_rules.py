"""The per-card network budget: each rule refuses with its reason, and earliest_allowed agrees."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recovery.rules.declines import Classification, classify_decline
from recovery.rules.network_rules import (
    BRAND_CAPS,
    AttemptRecord,
    NetworkLimits,
    attempt_cap,
    budget_key,
    check_attempt,
    earliest_allowed,
)
from webhooks.facts import DeclineInfo

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
CARD = "fp_card_one"
OTHER_CARD = "fp_card_two"

SOFT = classify_decline(DeclineInfo(decline_code="insufficient_funds"))
STOLEN = classify_decline(DeclineInfo(decline_code="stolen_card"))
VISA_CAT_1 = classify_decline(
    DeclineInfo(decline_code="do_not_honor", network_decline_code="R1"), "visa"
)
MAC_03 = classify_decline(DeclineInfo(network_advice_code="03"), "mastercard")
MAC_WAIT_1H = classify_decline(DeclineInfo(network_advice_code="24"), "mastercard")
MAC_WAIT_6D = classify_decline(DeclineInfo(network_advice_code="28"), "mastercard")
EXCESSIVE = classify_decline(
    DeclineInfo(decline_code="generic_decline", outcome_reason="previously_declined_do_not_retry")
)
RATE_LIMITED = classify_decline(DeclineInfo(failure_code="card_decline_rate_limit_exceeded"))


def attempt(
    at: datetime,
    classification: Classification | None = SOFT,
    *,
    card: str = CARD,
    succeeded: bool = False,
    by: str = "engine",
    kind: str = "card",
) -> AttemptRecord:
    return AttemptRecord(card, at, succeeded, None if succeeded else classification, by, kind)


def every_two_days(count: int, by: str = "engine") -> list[AttemptRecord]:
    return [attempt(T0 + 2 * DAY * i, by=by) for i in range(count)]


def test_no_history_allows_at_once():
    decision = check_attempt(CARD, "visa", T0, [])

    assert decision.allowed is True
    assert (decision.earliest, decision.rule) == (T0, None)
    assert earliest_allowed(CARD, "visa", T0, []) == T0


@pytest.mark.parametrize("classification", [STOLEN, VISA_CAT_1, MAC_03])
def test_a_blocked_card_is_never_tried_again(classification):
    history = [attempt(T0, classification)]

    decision = check_attempt(CARD, "visa", T0 + 365 * DAY, history)

    assert decision.allowed is False
    assert (decision.rule, decision.earliest) == ("card_blocked", None)
    assert earliest_allowed(CARD, "visa", T0, history) is None


def test_blocked_card_reason():
    decision = check_attempt(CARD, None, T0 + 3 * DAY, [attempt(T0, STOLEN)])

    assert decision.reason == "no retry: card reported stolen (stop)"


def test_blocked_even_if_a_later_attempt_succeeded():
    history = [attempt(T0, STOLEN), attempt(T0 + 2 * DAY, succeeded=True)]

    assert check_attempt(CARD, None, T0 + 40 * DAY, history).rule == "card_blocked"


def test_another_card_has_its_own_history():
    history = [attempt(T0, STOLEN), *every_two_days(8)]

    decision = check_attempt(OTHER_CARD, "visa", T0 + 15 * DAY, history)

    assert decision.allowed is True


def test_spacing_refuses_within_24_hours():
    decision = check_attempt(CARD, "visa", T0 + 23 * HOUR, [attempt(T0)])

    assert decision.allowed is False
    assert decision.rule == "spacing"
    assert decision.reason == "no retry before 2026-11-25 09:00 UTC: one attempt per card per 24 h"
    assert decision.earliest == T0 + DAY
    assert check_attempt(CARD, "visa", T0 + DAY, [attempt(T0)]).allowed is True


def test_spacing_counts_successes_and_stripe_attempts():
    history = [attempt(T0, succeeded=True, by="stripe")]

    assert check_attempt(CARD, None, T0 + 12 * HOUR, history).rule == "spacing"


def test_spacing_also_looks_ahead_of_a_recorded_attempt():
    decision = check_attempt(CARD, None, T0 - 2 * HOUR, [attempt(T0)])

    assert (decision.rule, decision.earliest) == ("spacing", T0 + DAY)


def test_spacing_follows_the_limits():
    limits = NetworkLimits(min_spacing=48 * HOUR)

    decision = check_attempt(CARD, None, T0 + 30 * HOUR, [attempt(T0)], limits)

    assert decision.reason.endswith("one attempt per card per 48 h")
    assert decision.earliest == T0 + 2 * DAY


def test_mac_wait_refuses_until_the_wait_is_over():
    history = [attempt(T0, MAC_WAIT_6D)]

    decision = check_attempt(CARD, "mastercard", T0 + 5 * DAY, history)

    assert (decision.allowed, decision.rule) == (False, "mac_wait")
    assert decision.reason.startswith("no retry before 2026-11-30 09:00 UTC: retry after 6 days")
    assert decision.earliest == T0 + 6 * DAY
    assert check_attempt(CARD, "mastercard", T0 + 6 * DAY, history).allowed is True


def test_short_mac_wait_is_covered_by_spacing():
    history = [attempt(T0, MAC_WAIT_1H)]

    decision = check_attempt(CARD, "mastercard", T0 + timedelta(minutes=30), history)

    assert decision.rule == "mac_wait"
    assert decision.earliest == T0 + DAY


@pytest.mark.parametrize("classification", [EXCESSIVE, RATE_LIMITED])
def test_window_block_lasts_the_rest_of_the_30_days(classification):
    history = [attempt(T0, classification, by="stripe")]

    decision = check_attempt(CARD, "visa", T0 + 29 * DAY, history)

    assert (decision.allowed, decision.rule) == (False, "window_blocked")
    assert decision.reason.startswith("no retry before 2026-12-24 09:00 UTC:")
    assert decision.reason.endswith("(for the rest of the 30-day window)")
    assert decision.earliest == T0 + 30 * DAY
    assert check_attempt(CARD, "visa", T0 + 30 * DAY, history).allowed is True


def test_the_30_day_cap():
    history = every_two_days(8)  # T0 .. T0 + 14 days

    decision = check_attempt(CARD, "visa", T0 + 16 * DAY, history)

    assert (decision.allowed, decision.rule) == (False, "cap_30d")
    assert decision.reason == "no retry: 8 attempts on this card in 30 days (cap 8)"
    # The window is (at - 30 d, at]: the attempt at T0 leaves it at T0 + 30 d exactly.
    assert decision.earliest == T0 + 30 * DAY


def test_the_cap_window_rolls():
    history = every_two_days(8)
    second_early = T0 + 30 * DAY - timedelta(seconds=1)

    assert check_attempt(CARD, "visa", second_early, history).allowed is False
    assert check_attempt(CARD, "visa", T0 + 30 * DAY, history).allowed is True


def test_stripe_attempts_and_successes_count_toward_the_cap():
    history = [*every_two_days(4, by="stripe"), *every_two_days(8)[4:]]
    history[1] = attempt(T0 + 2 * DAY, succeeded=True, by="stripe")

    assert check_attempt(CARD, None, T0 + 16 * DAY, history).rule == "cap_30d"


def test_the_cap_follows_the_limits():
    limits = NetworkLimits(max_attempts_per_30_days=3)

    decision = check_attempt(CARD, "visa", T0 + 10 * DAY, every_two_days(3), limits)

    assert decision.reason == "no retry: 3 attempts on this card in 30 days (cap 3)"


def test_attempt_cap_is_the_stricter_of_engine_and_brand():
    assert BRAND_CAPS == {"visa": 20, "mastercard": 35}
    assert attempt_cap("visa", NetworkLimits(max_attempts_per_30_days=20)) == 20
    assert attempt_cap("mastercard") == 8
    assert attempt_cap(None, NetworkLimits(max_attempts_per_30_days=12)) == 12


def test_the_most_severe_rule_is_reported_and_earliest_satisfies_them_all():
    history = [*every_two_days(7), attempt(T0 + 14 * DAY, MAC_WAIT_6D)]

    decision = check_attempt(CARD, "mastercard", T0 + 14 * DAY + HOUR, history)

    assert decision.rule == "mac_wait"
    assert decision.earliest == T0 + 30 * DAY  # the cap outlasts the MAC wait
    assert check_attempt(CARD, "mastercard", decision.earliest, history).allowed is True


def test_earliest_allowed_respects_not_before():
    history = [attempt(T0)]

    assert earliest_allowed(CARD, None, T0 + 3 * DAY, history) == T0 + 3 * DAY
    assert earliest_allowed(CARD, None, T0 + HOUR, history) == T0 + DAY


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts_per_30_days": 0},
        {"max_attempts_per_30_days": 21},
        {"max_attempts_per_30_days": 36},
        {"min_spacing": -HOUR},
    ],
)
def test_network_limits_refuse_invalid_values(kwargs):
    with pytest.raises(ValueError):
        NetworkLimits(**kwargs)


def test_network_limits_accept_the_bounds():
    assert NetworkLimits(max_attempts_per_30_days=1).max_attempts_per_30_days == 1
    assert NetworkLimits(max_attempts_per_30_days=20).max_attempts_per_30_days == 20
    assert NetworkLimits(min_spacing=timedelta(0)).min_spacing == timedelta(0)


def test_times_must_be_aware_and_attempters_known():
    with pytest.raises(ValueError):
        AttemptRecord(CARD, datetime(2026, 11, 24, 9, 0), False)
    with pytest.raises(ValueError):
        AttemptRecord(CARD, T0, False, by="someone")
    with pytest.raises(ValueError):
        check_attempt(CARD, None, datetime(2026, 11, 24, 9, 0), [])


# No fingerprint, no attempt

def test_a_card_without_a_fingerprint_gets_no_attempt():
    decision = check_attempt(None, "visa", T0, [])

    assert (decision.allowed, decision.rule, decision.earliest) == (False, "no_fingerprint", None)
    assert "no fingerprint" in decision.reason
    assert earliest_allowed(None, "visa", T0, []) is None
    assert earliest_allowed("", None, T0, []) is None


def test_budget_keys():
    assert budget_key("card", "fp_1", "pm_1") == "fp_1"
    assert budget_key(None, None, "pm_1") is None  # a card is never keyed by its payment method
    assert budget_key("us_bank_account", "ba_fp", "pm_1") == "ba_fp"
    assert budget_key("sepa_debit", None, "pm_1") == "pm_1"
    assert budget_key("sepa_debit", None, None) is None


# Bank debits: their own, stricter budget

BANK = "ba_fingerprint_1"
BANK_NSF = classify_decline(DeclineInfo(failure_code="insufficient_funds"))
NOT_AUTHORIZED = classify_decline(DeclineInfo(failure_code="debit_not_authorized"))


def debit(at: datetime, classification=BANK_NSF, kind="us_bank_account", **kwargs):
    return attempt(at, classification, card=BANK, kind=kind, **kwargs)


@pytest.mark.parametrize("kind", ["us_bank_account", "sepa_debit"])
def test_an_insufficient_funds_debit_is_retried_at_most_twice(kind):
    history = [debit(T0, kind=kind)]
    assert check_attempt(BANK, None, T0 + 3 * DAY, history).allowed is True
    history.append(debit(T0 + 3 * DAY, kind=kind))
    assert check_attempt(BANK, None, T0 + 7 * DAY, history).allowed is True
    history.append(debit(T0 + 7 * DAY, kind=kind))

    decision = check_attempt(BANK, None, T0 + 10 * DAY, history)

    assert (decision.allowed, decision.rule, decision.earliest) == (
        False, "debit_retries_spent", None)
    # The same history on a card would still be within the card budget.
    assert check_attempt(BANK, None, T0 + 10 * DAY, history, kind="card").allowed is True


def test_a_debit_is_not_retried_fourteen_days_after_its_first_failure():
    decision = check_attempt(BANK, None, T0 + 14 * DAY + HOUR, [debit(T0)])

    assert (decision.allowed, decision.rule, decision.earliest) == (
        False, "debit_retries_spent", None)
    assert check_attempt(BANK, None, T0 + 14 * DAY, [debit(T0)]).allowed is True


@pytest.mark.parametrize("failure", ["debit_not_authorized", "bank_account_closed",
                                     "bank_account_invalid_details", "something_new"])
def test_a_debit_failure_other_than_insufficient_funds_is_not_retried(failure):
    label = classify_decline(DeclineInfo(failure_code=failure))

    decision = check_attempt(BANK, None, T0 + 3 * DAY, [debit(T0, label)])

    assert decision.allowed is False and decision.earliest is None
    assert decision.rule in ("card_blocked", "debit_not_retryable")


def test_the_next_debit_after_a_success_or_a_fortnight_starts_a_fresh_budget():
    paid = [debit(T0), debit(T0 + 3 * DAY), debit(T0 + 7 * DAY, succeeded=True),
            debit(T0 + 30 * DAY)]
    assert check_attempt(BANK, None, T0 + 33 * DAY, paid).allowed is True
    unpaid = [debit(T0), debit(T0 + 3 * DAY), debit(T0 + 7 * DAY), debit(T0 + 30 * DAY)]
    assert check_attempt(BANK, None, T0 + 33 * DAY, unpaid).allowed is True
    assert check_attempt(BANK, None, T0 + 45 * DAY, unpaid).allowed is False


def test_debits_keep_one_attempt_a_day_and_their_kind_comes_from_the_history():
    history = [debit(T0, kind="sepa_debit")]
    decision = check_attempt(BANK, None, T0 + 2 * HOUR, history)

    assert decision.rule == "spacing"
    assert decision.reason.endswith("one attempt per bank account per 24 h")
    assert decision.earliest == T0 + DAY


# Property tests: random histories on two cards, random limits and times, minute resolution so
# that exact boundaries (24 h, 30 d) come up often.
CLASSIFICATIONS = [None, SOFT, SOFT, SOFT, STOLEN, MAC_WAIT_1H, MAC_WAIT_6D, EXCESSIVE]
minutes = st.integers(min_value=0, max_value=90 * 24 * 60)
times = minutes.map(lambda m: T0 + timedelta(minutes=m))
records = st.builds(
    AttemptRecord,
    card_fingerprint=st.sampled_from([CARD, OTHER_CARD]),
    at=times,
    succeeded=st.booleans(),
    classification=st.sampled_from(CLASSIFICATIONS),
    by=st.sampled_from(["stripe", "engine"]),
)
histories = st.lists(records, max_size=25)
limits_strategy = st.builds(
    NetworkLimits,
    min_spacing=st.sampled_from([timedelta(0), HOUR, DAY, 2 * DAY]),
    max_attempts_per_30_days=st.integers(min_value=1, max_value=20),
)
brands = st.sampled_from(["visa", "mastercard", None])


def card_is_blocked(history: list[AttemptRecord]) -> bool:
    return any(
        r.card_fingerprint == CARD and r.classification is not None
        and r.classification.card_blocked
        for r in history
    )


def assert_within_budget(history: list[AttemptRecord], at: datetime, limits: NetworkLimits):
    mine = [r for r in history if r.card_fingerprint == CARD]
    assert not card_is_blocked(history)
    assert all(abs(at - r.at) >= limits.min_spacing for r in mine)
    in_window = [r for r in mine if at - timedelta(days=30) < r.at <= at]
    assert len(in_window) < limits.max_attempts_per_30_days


@settings(max_examples=300, deadline=None)
@given(history=histories, not_before=times, limits=limits_strategy, brand=brands)
def test_earliest_allowed_is_allowed_and_earliest(history, not_before, limits, brand):
    earliest = earliest_allowed(CARD, brand, not_before, history, limits)

    if earliest is None:
        assert card_is_blocked(history)
        return
    assert earliest >= not_before
    assert check_attempt(CARD, brand, earliest, history, limits).allowed
    assert_within_budget(history, earliest, limits)
    if earliest > not_before:
        just_before = earliest - timedelta(microseconds=1)
        assert not check_attempt(CARD, brand, just_before, history, limits).allowed


@settings(max_examples=300, deadline=None)
@given(history=histories, at=times, limits=limits_strategy, brand=brands)
def test_check_attempt_never_allows_beyond_the_budget(history, at, limits, brand):
    decision = check_attempt(CARD, brand, at, history, limits)

    if decision.allowed:
        assert_within_budget(history, at, limits)
        assert decision.earliest == at
    else:
        assert decision.rule is not None
        assert decision.earliest == earliest_allowed(CARD, brand, at, history, limits)
        assert decision.earliest is None or decision.earliest > at


debit_records = st.builds(
    AttemptRecord,
    card_fingerprint=st.just(BANK),
    at=times,
    succeeded=st.booleans(),
    classification=st.sampled_from([BANK_NSF, BANK_NSF, BANK_NSF, NOT_AUTHORIZED, None]),
    by=st.sampled_from(["stripe", "engine"]),
    kind=st.sampled_from(["us_bank_account", "sepa_debit"]),
)


@settings(max_examples=300, deadline=None)
@given(history=st.lists(debit_records, max_size=12), not_before=times, limits=limits_strategy)
def test_a_debit_never_gets_a_third_retry_of_one_failure(history, not_before, limits):
    earliest = earliest_allowed(BANK, None, not_before, history, limits)
    if earliest is None:
        return
    assert check_attempt(BANK, None, earliest, history, limits).allowed
    ordered = sorted((r for r in history if r.at <= earliest), key=lambda r: r.at)
    since_success = []
    for record in ordered:
        since_success = [] if record.succeeded else [*since_success, record]
    recent = [r for r in since_success if earliest - r.at <= timedelta(days=14)]
    assert len(recent) <= 2
    assert all(r.classification == BANK_NSF for r in recent)
