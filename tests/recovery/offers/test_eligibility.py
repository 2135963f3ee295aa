"""Offer rules: the first rule whose segment matches is the offer, in the messages it names;
a stored offers policy is validated, naming every bad field of every rule."""

from __future__ import annotations

import pytest

from recovery.errors import PolicyError
from recovery.offers.eligibility import OfferRule, OffersPolicy, Segment, choose_offer

POLICY = OffersPolicy.from_mapping({"rules": [
    {"kind": "pause", "months": 2, "plan_interval": "year", "in_messages": ["final_notice"]},
    {"kind": "pause", "months": 1, "min_tenure_days": 730},
    {"kind": "discount", "percent_off": 30, "months": 3, "plan_interval": "month",
     "min_amount": 5000, "currency": "usd", "max_earlier_failures": 1},
    {"kind": "discount", "percent_off": 20, "months": 3, "plan_interval": "month",
     "max_earlier_failures": 1, "decline_classes": ["retry", "retry_limited"],
     "in_messages": ["final_notice"]},
]})


def segment(**fields) -> Segment:
    values = dict(amount=2000, currency="usd", plan_interval_days=30, tenure_days=100,
                  earlier_failures=0, decline_class="retry")
    return Segment(**{**values, **fields})


@pytest.mark.parametrize(("who", "message", "expected"), [
    (segment(plan_interval_days=365), "final_notice", ("pause", 0, 2)),
    (segment(plan_interval_days=365), "reminder", None),  # the yearly pause: final notice only
    (segment(plan_interval_days=365, tenure_days=800), "reminder", ("pause", 0, 1)),
    (segment(tenure_days=800), "final_notice", ("pause", 0, 1)),  # the first match wins
    (segment(amount=9900), "reminder", ("discount", 30, 3)),
    (segment(amount=9900, currency="eur"), "reminder", None),  # amounts are in dollars
    (segment(amount=9900, currency="eur"), "final_notice", ("discount", 20, 3)),
    (segment(), "final_notice", ("discount", 20, 3)),
    (segment(), "reminder", None),
    (segment(earlier_failures=2), "final_notice", None),
    (segment(decline_class="stop"), "final_notice", None),
    (segment(plan_interval_days=None), "final_notice", None),  # an unknown interval matches none
    (segment(tenure_days=None, plan_interval_days=7), "final_notice", None),
])
def test_the_first_rule_that_matches_the_segment_and_message_is_chosen(who, message, expected):
    rule = choose_offer(POLICY, who, message)
    assert (None if rule is None else (rule.kind, rule.percent_off, rule.months)) == expected


def test_no_rules_offer_nothing():
    assert choose_offer(OffersPolicy.from_mapping(None), segment(), "final_notice") is None
    assert choose_offer(OffersPolicy.from_mapping({}), segment(), "final_notice") is None


def test_a_policy_reads_back_what_it_writes():
    assert OffersPolicy.from_mapping(POLICY.to_dict()) == POLICY


def test_every_bad_field_of_every_rule_is_named():
    with pytest.raises(PolicyError) as raised:
        OffersPolicy.from_mapping({"rules": [
            {"kind": "discount", "percent_off": 0, "months": 3, "plan_interval": "week"},
            {"kind": "pause", "months": 12, "percent_off": 10},
            {"kind": "gift", "months": 1, "min_amount": -1, "in_messages": []},
            {"kind": "discount", "percent_off": 10, "months": 1, "min_amount": 500,
             "max_amount": 100, "decline_classes": ["nope"], "max_earlier_failures": "2"},
        ]})
    message = str(raised.value)
    for expected in (
            "rules[0].percent_off must be a whole number 1-100",
            "plan_interval must be one of ['month', 'year']",
            "rules[1].months must be a whole number 1-6",
            "percent_off must be left out of a pause",
            "rules[2].kind must be one of ['discount', 'pause'], not 'gift'",
            "min_amount must be a whole number of at least 0",
            "in_messages must be a non-empty list among ['reminder', 'final_notice']",
            "rules[3].max_earlier_failures must be a whole number of at least 0",
            "min_amount must not be above max_amount",
            "decline_classes must be among"):
        assert expected in message


@pytest.mark.parametrize(("data", "expected"), [
    ([{"kind": "pause"}], "must be a mapping with 'rules'"),
    ({"rules": [{"kind": "pause", "months": 1, "colour": "red"}]},
     "rules[0].colour is an unknown field"),
    ({"rules": [{"kind": "pause"}]}, "rules[0].months is required"),
    ({"rules": ["pause"]}, "rules[0] must be a mapping"),
    ({"rules": [], "enabled": True}, "enabled is an unknown field"),
    ({"rules": "pause"}, "rules must be a list"),
    ({"rules": [{"kind": "pause", "months": True}]}, "months must be a whole number"),
])
def test_malformed_policies_are_refused_with_a_clear_error(data, expected):
    with pytest.raises(PolicyError, match="invalid offers policy") as raised:
        OffersPolicy.from_mapping(data)
    assert expected in str(raised.value)


def test_a_rule_made_in_code_is_validated_too():
    with pytest.raises(PolicyError, match="months must be a whole number 1-24"):
        OfferRule(kind="discount", percent_off=20, months=0)
