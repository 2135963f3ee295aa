"""Contact rules: quiet hours, caps, gaps and unsubscribe hold for whatever is asked of them."""

from __future__ import annotations

import heapq
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from recovery.rules.communication import MESSAGE_KINDS, CommunicationPolicy
from recovery.rules.contact import SentRecord, contact_decision, in_quiet_hours

START = datetime(2026, 3, 1, tzinfo=UTC)  # DST changes fall inside the runs (March, April)
ZONES = ("UTC", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "Asia/Kolkata",
         "Pacific/Chatham", "America/Santiago", "Europe/London")
WEEK = timedelta(days=7)


def policy(**changes) -> CommunicationPolicy:
    return CommunicationPolicy(**changes)


# Edge cases


def test_a_message_in_quiet_hours_waits_for_the_morning_in_the_customers_zone():
    # 03:00 UTC is 22:00 in New York (EST): quiet until 08:00 local, 13:00 UTC.
    now = datetime(2026, 1, 10, 3, 0, tzinfo=UTC)
    decision = contact_decision("reminder", now, "America/New_York", 1, [], policy(), False)
    assert decision.allowed
    assert decision.at == datetime(2026, 1, 10, 13, 0, tzinfo=UTC)
    assert decision.reason == "deferred: quiet hours in the customer's time zone"


def test_a_customer_who_left_two_messages_unanswered_gets_no_more_dunning():
    now = datetime(2026, 1, 10, 15, 0, tzinfo=UTC)
    for kind in ("payment_failed", "card_update_request", "reminder", "final_notice"):
        refused = contact_decision(kind, now, "UTC", 1, [], policy(), False, unanswered=2)
        assert (refused.allowed, refused.reason) == (
            False, "the customer has not answered 2 messages (max_unanswered 2)")
        assert contact_decision(kind, now, "UTC", 1, [], policy(), False, unanswered=1).allowed
    # Not dunning: the receipt and the card-expiring notice still go.
    for kind in ("payment_recovered", "card_expiring"):
        assert contact_decision(kind, now, "UTC", 1, [], policy(), False, unanswered=9).allowed
    # 0: no limit.
    assert contact_decision("reminder", now, "UTC", 1, [], policy(max_unanswered=0), False,
                            unanswered=40).allowed


def test_quiet_hours_follow_daylight_saving_time():
    # 8 March 2026: New York moves to EDT; 08:00 local is then 12:00 UTC, not 13:00.
    now = datetime(2026, 3, 8, 6, 0, tzinfo=UTC)  # 01:00 EST
    decision = contact_decision("reminder", now, "America/New_York", 1, [], policy(), False)
    assert decision.at == datetime(2026, 3, 8, 12, 0, tzinfo=UTC)


def test_quiet_hours_inside_one_day_and_none_at_all():
    noon = datetime(2026, 1, 10, 12, 30, tzinfo=UTC)
    lunch = policy(quiet_start_hour=12, quiet_end_hour=14)
    assert contact_decision("reminder", noon, "UTC", 1, [], lunch, False).at == \
        datetime(2026, 1, 10, 14, 0, tzinfo=UTC)
    never = policy(quiet_start_hour=0, quiet_end_hour=0)
    assert contact_decision("reminder", noon, "UTC", 1, [], never, False).at == noon


def test_an_unknown_time_zone_counts_as_utc():
    now = datetime(2026, 1, 10, 22, 0, tzinfo=UTC)
    decision = contact_decision("reminder", now, "Mars/Olympus", 1, [], policy(), False)
    assert decision.at == datetime(2026, 1, 11, 8, 0, tzinfo=UTC)


def test_the_minimum_gap_defers_a_message_after_and_before_another():
    now = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
    awake = policy(quiet_start_hour=0, quiet_end_hour=0)
    earlier = [SentRecord(now - timedelta(hours=5), 1, "payment_failed")]
    decision = contact_decision("reminder", now, "UTC", 1, earlier, awake, False)
    assert decision.at == now + timedelta(hours=19)
    assert "24 hours between messages" in decision.reason
    # A message already scheduled two hours from now blocks the day around it too.
    later = [SentRecord(now + timedelta(hours=2), 2, "card_expiring")]
    decision = contact_decision("reminder", now, "UTC", 1, later, awake, False)
    assert decision.at == now + timedelta(hours=26)


def test_the_weekly_cap_waits_until_the_oldest_message_leaves_the_window():
    now = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
    sent = [SentRecord(now - timedelta(days=d), 9, "reminder") for d in (6, 4, 2)]
    decision = contact_decision("reminder", now, "UTC", 1, sent, policy(), False)
    assert decision.allowed
    assert decision.at == now + timedelta(days=1)  # 7 days after the one 6 days ago
    assert decision.reason == "deferred: at most 3 messages in 7 days"


def test_the_case_cap_refuses_rather_than_waits():
    now = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
    sent = [SentRecord(now - timedelta(days=10 * n + 10), 1, "reminder") for n in range(6)]
    decision = contact_decision("reminder", now, "UTC", 1, sent, policy(), False)
    assert (decision.allowed, decision.at) == (False, None)
    assert "max_per_case" in decision.reason
    # Another case of the same customer is not held by it.
    assert contact_decision("reminder", now, "UTC", 2, sent, policy(), False).at == now


def test_unsubscribed_customers_get_only_must_sends():
    now = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
    for kind in ("payment_failed", "reminder", "card_update_request", "card_expiring"):
        decision = contact_decision(kind, now, "UTC", 1, [], policy(), True)
        assert (decision.allowed, decision.reason) == (False, "the customer unsubscribed")
    assert contact_decision("payment_recovered", now, "UTC", 1, [], policy(), True).allowed
    assert contact_decision("final_notice", now, "UTC", 1, [], policy(), True).allowed
    optional = policy(final_notice_must_send=False)
    assert not contact_decision("final_notice", now, "UTC", 1, [], optional, True).allowed


def test_must_sends_still_keep_quiet_hours_and_gaps():
    now = datetime(2026, 1, 10, 23, 0, tzinfo=UTC)
    decision = contact_decision("payment_recovered", now, "UTC", 1, [], policy(), True)
    assert decision.at == datetime(2026, 1, 11, 8, 0, tzinfo=UTC)


def test_turned_off_refuses_everything():
    now = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
    decision = contact_decision("payment_recovered", now, "UTC", 1, [], policy(enabled=False),
                                False)
    assert not decision.allowed
    assert decision.reason == "communication is turned off for the account"


def test_a_deferred_time_is_itself_allowed():
    now = datetime(2026, 1, 10, 22, 0, tzinfo=UTC)
    sent = [SentRecord(now - timedelta(hours=20), 1, "payment_failed")]
    first = contact_decision("reminder", now, "Europe/Berlin", 1, sent, policy(), False)
    again = contact_decision("reminder", first.at, "Europe/Berlin", 1, sent, policy(), False)
    assert again.at == first.at


# The property: apply the decisions the way the notify step does (a deferred message runs
# again at its time and is decided afresh), then check every rule on what was sent.

requests = st.lists(st.tuples(
    st.integers(0, 60 * 24 * 30),  # minutes after START it is asked for
    st.sampled_from(MESSAGE_KINDS),
    st.integers(0, 2),  # customer
    st.one_of(st.none(), st.integers(1, 4)),  # case (None: pre-dunning)
), min_size=1, max_size=40)
policies = st.builds(
    CommunicationPolicy,
    quiet_start_hour=st.integers(0, 23), quiet_end_hour=st.integers(0, 23),
    max_per_case=st.integers(1, 6), max_per_customer_week=st.integers(1, 5),
    min_gap_hours=st.sampled_from([0, 0.5, 6, 24, 36, 100]),
    final_notice_must_send=st.booleans(),
)
customers = st.lists(st.tuples(st.sampled_from(ZONES),
                               st.one_of(st.none(), st.integers(0, 60 * 24 * 30))),
                     min_size=3, max_size=3)  # (zone, minute they unsubscribe)


@settings(max_examples=150, deadline=None)
@given(requests, policies, customers)
def test_sequential_decisions_never_break_a_contact_rule(asked, rules, people):
    sent = _simulate(asked, rules, people)
    for customer, (zone, unsubscribed_at) in enumerate(people):
        mine = sorted(((at, case, kind) for who, at, case, kind in sent if who == customer),
                      key=lambda record: record[0])
        times = [at for at, _case, _kind in mine]
        for at, _case, kind in mine:
            assert not in_quiet_hours(at, ZoneInfo(zone), rules.quiet_start_hour,
                                      rules.quiet_end_hour)
            if unsubscribed_at is not None and at >= START + timedelta(minutes=unsubscribed_at):
                assert rules.must_send(kind)
        for earlier, later in zip(times, times[1:], strict=False):
            assert later - earlier >= timedelta(hours=rules.min_gap_hours)
        cap = rules.max_per_customer_week
        for index in range(len(times) - cap):
            assert times[index + cap] - times[index] >= WEEK  # no cap + 1 in one 7-day window
        for case in {case for _at, case, _kind in mine if case is not None}:
            assert sum(1 for _at, c, _kind in mine if c == case) <= rules.max_per_case


def _simulate(asked, rules, people):
    """Run each request at its time; a deferred one runs again at the time it was given."""
    queue = [(START + timedelta(minutes=minute), n, kind, customer, case)
             for n, (minute, kind, customer, case) in enumerate(asked)]
    heapq.heapify(queue)
    sent = []
    for _ in range(50 * len(asked)):
        if not queue:
            break
        now, n, kind, customer, case = heapq.heappop(queue)
        zone, unsubscribed_at = people[customer]
        unsubscribed = unsubscribed_at is not None and \
            now >= START + timedelta(minutes=unsubscribed_at)
        # Cases are per customer: the same number for two customers is two cases.
        history = [SentRecord(at, c, k) for who, at, c, k in sent if who == customer]
        decision = contact_decision(kind, now, zone, case, history, rules, unsubscribed)
        if not decision.allowed:
            continue
        assert decision.at >= now
        if decision.at == now:
            sent.append((customer, now, case, kind))
        else:
            heapq.heappush(queue, (decision.at, n, kind, customer, case))
    assert not queue, "a deferred message kept being deferred"
    return sent
