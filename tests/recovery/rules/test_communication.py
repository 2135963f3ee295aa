"""Communication policy: defaults, validation naming every wrong field, and the notices it plans."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from recovery.errors import PolicyError
from recovery.rules.communication import (
    CommunicationPolicy,
    SequenceStep,
    follow_up_notices,
    opening_notice,
)

FAILED = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
END = FAILED + timedelta(days=28)


def test_no_stored_policy_gives_the_defaults_and_they_round_trip():
    policy = CommunicationPolicy.from_mapping(None)
    assert policy == CommunicationPolicy() == CommunicationPolicy.from_mapping({})
    assert [step.key for step in policy.sequence] == [
        "payment_failed", "card_update_request", "authentication_required", "reminder@7",
        "payment_recovered"]
    assert policy.max_unanswered == 2
    assert CommunicationPolicy.from_mapping(policy.to_dict()) == policy


def test_a_custom_sequence_is_read_from_plain_data():
    policy = CommunicationPolicy.from_mapping({
        "sequence": [{"kind": "payment_failed"}, {"kind": "reminder", "after_days": 2.5},
                     {"kind": "final_notice", "before_end_days": 1}],
        "max_per_case": 4, "channels": ["email", "sms"], "min_gap_hours": 12})
    assert policy.sequence == (SequenceStep("payment_failed"),
                               SequenceStep("reminder", after_days=2.5),
                               SequenceStep("final_notice", before_end_days=1))
    assert (policy.max_per_case, policy.channels, policy.min_gap_hours) == (4, ("email", "sms"),
                                                                            12)
    assert not policy.has("payment_recovered")


def test_every_wrong_field_is_named_in_one_error():
    with pytest.raises(PolicyError) as raised:
        CommunicationPolicy.from_mapping({
            "max_per_case": "6", "min_gap_hours": float("nan"), "quiet_start_hour": 24,
            "max_per_customer_week": True, "card_expiring_days_before": 1e308,
            "channels": ["email", "fax"], "enabled": "yes", "colour": "red",
            "sequence": [{"kind": "reminder"}, {"kind": "gossip"},
                         {"kind": "final_notice", "before_end_days": float("inf")},
                         {"kind": "payment_failed", "after_days": 2}, "reminder",
                         {"kind": "reminder", "after_days": 3, "when": "soon"}]})
    message = str(raised.value)
    for named in ("max_per_case", "min_gap_hours", "quiet_start_hour", "max_per_customer_week",
                  "card_expiring_days_before", "channels", "enabled", "colour is an unknown field",
                  "sequence[0].after_days", "sequence[1].kind", "sequence[2].before_end_days",
                  "sequence[3].after_days is only for reminders", "sequence[4] must be",
                  "sequence[5].when is an unknown field"):
        assert named in message


@pytest.mark.parametrize("data", [
    "everything", [1, 2], {"sequence": "reminder"}, {"channels": "email"},
    {"sequence": [{"kind": "reminder", "after_days": 3}, {"kind": "reminder", "after_days": 3}]},
    {"sequence": [{"kind": "reminder", "after_days": 10 ** 400}]},
    {"min_gap_hours": -1}, {"max_per_case": 0}, {"channels": []},
])
def test_bad_input_is_a_policy_error_never_a_crash(data):
    with pytest.raises(PolicyError):
        CommunicationPolicy.from_mapping(data)


def test_the_opening_notice_depends_on_the_plan_and_the_decline():
    policy = CommunicationPolicy()
    assert opening_notice(policy, "retry", "retry") == "payment_failed"
    assert opening_notice(policy, "wait_new_card", "stop") == "card_update_request"
    assert opening_notice(policy, "wait_new_card", "retry_limited") == "card_update_request"
    assert opening_notice(policy, "wait_authentication", "authentication") == \
        "authentication_required"
    assert opening_notice(policy, "wait_reconcile", "reconcile") is None
    later = CommunicationPolicy(card_update_at_once=False)
    assert opening_notice(later, "wait_new_card", "new_payment_method") == "payment_failed"
    assert opening_notice(CommunicationPolicy(enabled=False), "retry", "retry") is None
    only_reminders = CommunicationPolicy(sequence=(SequenceStep("reminder", after_days=3),))
    assert opening_notice(only_reminders, "retry", "retry") is None


# An account that lists three reminders (the default has one).
THREE_REMINDERS = CommunicationPolicy(sequence=(
    SequenceStep("payment_failed"), SequenceStep("reminder", after_days=3),
    SequenceStep("reminder", after_days=7), SequenceStep("reminder", after_days=14),
    SequenceStep("final_notice", before_end_days=3)))


def test_reminders_and_the_final_notice_fall_inside_the_window():
    notices = follow_up_notices(THREE_REMINDERS, FAILED, END, FAILED)
    assert [(n.key, n.at) for n in notices] == [
        ("reminder@3", FAILED + timedelta(days=3)), ("reminder@7", FAILED + timedelta(days=7)),
        ("reminder@14", FAILED + timedelta(days=14)), ("final_notice", END - timedelta(days=3))]
    # Told late: reminders already past are left out; a final notice still ahead goes at once.
    late = FAILED + timedelta(days=26)
    assert [(n.key, n.at) for n in follow_up_notices(THREE_REMINDERS, FAILED, END, late)] \
        == [("final_notice", late)]
    assert follow_up_notices(THREE_REMINDERS, FAILED, END, END) == []
    short = FAILED + timedelta(days=5)  # a 5-day window: only the day-3 reminder fits
    assert [n.key for n in follow_up_notices(THREE_REMINDERS, FAILED, short, FAILED)] == \
        ["reminder@3", "final_notice"]
    assert [n.key for n in follow_up_notices(CommunicationPolicy(), FAILED, END, FAILED)] == \
        ["reminder@7"]
