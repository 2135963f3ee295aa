"""Segment rules: the first segment whose every condition holds gives a case its retry policy;
an unknown fact matches no condition; a wrong document names every wrong field by its path."""

from __future__ import annotations

import pytest

from recovery.errors import PolicyError
from recovery.rules.policy import RetryPolicy
from recovery.rules.problems import dotted
from recovery.rules.segments import CaseFacts, SegmentedPolicy, parse_segments

ANNUAL = {"name": "annual", "match": {"plan_interval": "year", "amount_min": 10000},
          "policy": {"offsets_days": [1, 2, 3], "max_retries": 3}}
DEBIT_EU = {"name": "debit eu", "match": {"card_funding": ["debit"], "country": ["de", "FR"]},
            "policy": {"offsets_days": [2, 9]}}
CATCH_ALL = {"name": "everyone else", "match": {}, "policy": {"max_retries": 2}}


def facts(**overrides) -> CaseFacts:
    values = dict(amount=2900, currency="usd", plan_interval_days=30, card_country="US",
                  card_funding="credit", decline_class="retry", earlier_failures=0)
    return CaseFacts(**{**values, **overrides})


def segmented(*segments, **base) -> SegmentedPolicy:
    return SegmentedPolicy.from_document({**base, "segments": list(segments)})


def test_the_first_matching_segment_gives_its_overrides_over_the_accounts_policy():
    policy = segmented(ANNUAL, DEBIT_EU, CATCH_ALL, offsets_days=[1, 4, 8, 14], window_days=20,
                       local_hour=10)
    chosen, segment = policy.for_case(facts(amount=12000, plan_interval_days=365))
    assert segment.name == "annual" and chosen.name == "annual"
    assert (chosen.offsets_days, chosen.max_retries) == ((1.0, 2.0, 3.0), 3)
    assert (chosen.window_days, chosen.local_hour) == (20, 10)  # the account's own, kept
    chosen, segment = policy.for_case(facts(card_funding="debit", card_country="FR"))
    assert segment.name == "debit eu" and chosen.offsets_days == (2.0, 9.0)
    # Neither of the first two: the catch-all, whose empty match holds for every case.
    chosen, segment = policy.for_case(facts(amount=9999, plan_interval_days=365))
    assert segment.name == "everyone else" and chosen.max_retries == 2


def test_without_a_match_the_account_policy_applies():
    policy = segmented(ANNUAL, max_retries=4)
    chosen, segment = policy.for_case(facts())
    assert segment is None and chosen == policy.base and chosen.max_retries == 4


@pytest.mark.parametrize(("match", "holds", "fails"), [
    ({"amount_min": 1000, "amount_max": 2000}, facts(amount=2000), facts(amount=2001)),
    ({"amount_min": 1000, "currency": "EUR"}, facts(currency="eur"), facts(currency="usd")),
    ({"plan_interval": "month"}, facts(plan_interval_days=31), facts(plan_interval_days=None)),
    ({"country": ["us"]}, facts(card_country="us"), facts(card_country=None)),
    ({"card_funding": ["prepaid"]}, facts(card_funding="prepaid"), facts(card_funding=None)),
    ({"decline_class": ["retry_limited"]}, facts(decline_class="retry_limited"), facts()),
    ({"earlier_failures_min": 2}, facts(earlier_failures=2), facts(earlier_failures=1)),
    ({"tenure_days_min": 30}, facts(tenure_days=30), facts(tenure_days=None)),
])
def test_each_condition_holds_or_fails_and_an_unknown_fact_never_matches(match, holds, fails):
    policy = segmented({"name": "s", "match": match, "policy": {"max_retries": 1}})
    assert policy.for_case(holds)[1] is not None
    assert policy.for_case(fails)[1] is None


def test_every_wrong_field_of_every_segment_is_named_by_its_path():
    with pytest.raises(PolicyError) as raised:
        SegmentedPolicy.from_document({"offsets_days": [1, 4, 8], "window_days": 10, "segments": [
            {"name": "", "match": {"amount_min": -5, "amount_max": "lots", "colour": "red",
                                   "plan_interval": "fortnight", "country": ["USA", 7],
                                   "card_funding": "debit", "decline_class": ["nope"]},
             "policy": {"offsets_days": [3, 1], "ownership": "coexist", "typo": 1}},
            {"name": "late", "match": {}, "policy": {"offsets_days": [5, 12]}},
            "not a segment",
            {"name": "late", "match": {}, "policy": {"max_retries": 2}, "extra": True},
        ]})
    locations = {dotted(error["loc"]) for error in raised.value.field_errors}
    assert locations == {
        "segments[0].name", "segments[0].match.amount_min", "segments[0].match.amount_max",
        "segments[0].match.colour", "segments[0].match.plan_interval",
        "segments[0].match.country[0]", "segments[0].match.country[1]",
        "segments[0].match.card_funding", "segments[0].match.decline_class[0]",
        "segments[0].policy.offsets_days", "segments[0].policy.ownership",
        "segments[0].policy.typo",
        # 12 days is past the account's 10-day window the segment shares.
        "segments[1].policy.offsets_days",
        "segments[2]", "segments[3].extra",
    }
    assert "segments[0].match.amount_min must be a whole number" in str(raised.value)
    ownership = next(e for e in raised.value.field_errors
                     if e["loc"] == ["segments", 0, "policy", "ownership"])
    assert "the account's for every case" in ownership["msg"]


def test_a_repeated_name_and_a_non_list_are_refused():
    _made, problems = parse_segments([CATCH_ALL, CATCH_ALL], RetryPolicy())
    assert [p.loc for p in problems] == [("segments", 1, "name")]
    assert parse_segments({"name": "x"}, RetryPolicy())[1][0].loc == ("segments",)


def test_segments_read_back_what_they_write():
    policy = segmented(ANNUAL, DEBIT_EU)
    written = [segment.to_dict() for segment in policy.segments]
    assert written[1]["match"] == {"country": ["DE", "FR"], "card_funding": ["debit"]}
    again = segmented(*written)
    assert again == policy


def test_a_smart_segment_makes_the_policy_use_smart_timing():
    assert not segmented(ANNUAL).uses_smart_timing
    assert segmented({"name": "smart", "match": {}, "policy": {"timing": "smart"}}
                     ).uses_smart_timing


def test_the_retry_policy_names_every_wrong_field_at_once():
    with pytest.raises(PolicyError) as raised:
        RetryPolicy.from_dict({"offsets_days": [1, "x", -2], "max_retries": "5",
                               "window_days": 0, "timing": "clever", "exploration": True,
                               "local_hour": 24, "min_hours_between_attempts": -1,
                               "colour": "blue"})
    assert {dotted(e["loc"]) for e in raised.value.field_errors} == {
        "offsets_days[1]", "offsets_days[2]", "max_retries", "window_days", "timing",
        "exploration", "local_hour", "min_hours_between_attempts", "colour"}
    assert "timing must be 'fixed' or 'smart', not 'clever'" in str(raised.value)
