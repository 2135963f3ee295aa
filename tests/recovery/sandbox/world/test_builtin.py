"""The built-in worlds: reproducible, plausible declines, state-driven outcomes, reactions."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from recovery.sandbox.world.builtin import make_alternate_world, make_world
from recovery.sandbox.world.contract import (
    Cancelled,
    CardUpdated,
    ChargeResult,
    Message,
    PaidOnSession,
    Subscriber,
    World,
)

START = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
MINUTES_4 = timedelta(minutes=4)


def first_attempts(world: World) -> dict[str, ChargeResult]:
    """Every subscriber's first renewal, charged once at its due time."""
    return {
        s.id: world.charge(s.id, f"in_{s.id}_0", s.card.fingerprint, s.amount, s.currency,
                           s.first_renewal_at)
        for s in world.subscribers()
    }


def run_scenario(world: World, days: int = 40, window: timedelta = HOUR) -> list[object]:
    """A small dunning loop: first attempts, a message on failure, retries every two days."""
    transcript: list[object] = []
    due = sorted((s.first_renewal_at, s.id, 0) for s in world.subscribers()
                 if s.first_renewal_at < START + timedelta(days=days))
    by_id = {s.id: s for s in world.subscribers()}
    cards = {s.id: s.card for s in world.subscribers()}
    clock = START
    while clock < START + timedelta(days=days):
        for action in world.actions(clock, clock + window):
            transcript.append(action)
            if isinstance(action, CardUpdated):
                cards[action.subscriber_id] = action.card
        clock += window
        while due and due[0][0] < clock:
            at, sub_id, attempt = due.pop(0)
            sub = by_id[sub_id]
            result = world.charge(sub_id, f"in_{sub_id}_0", cards[sub_id].fingerprint,
                                  sub.amount, sub.currency, at)
            transcript.append((sub_id, attempt, at, result))
            if not result.paid and attempt == 0:
                world.message(Message(sub_id, f"in_{sub_id}_0", "payment_failed", "email", at))
            if not result.paid and attempt < 3:
                due.append((at + 2 * DAY, sub_id, attempt + 1))
                due.sort()
    return transcript


@pytest.fixture(scope="module")
def default_world() -> World:
    return make_world(seed=42, start=START, subscribers=5000)


@pytest.fixture(scope="module")
def default_first(default_world) -> dict[str, ChargeResult]:
    return first_attempts(default_world)


def declines(results: dict[str, ChargeResult]) -> Counter[str]:
    return Counter(r.decline_code or r.failure_code for r in results.values() if not r.paid)


# -- reproducibility ---------------------------------------------------------------------------


def test_same_seed_builds_the_same_subscribers_and_different_seeds_do_not():
    one = make_world(seed=9, start=START, subscribers=300).subscribers()
    two = make_world(seed=9, start=START, subscribers=300).subscribers()
    other = make_world(seed=10, start=START, subscribers=300).subscribers()
    assert list(one) == list(two)
    assert list(one) != list(other)
    assert all(isinstance(s, Subscriber) for s in one)


def test_a_subscriber_does_not_depend_on_the_size_of_the_population():
    small = make_world(seed=5, start=START, subscribers=100)
    large = make_world(seed=5, start=START, subscribers=400)
    assert list(small.subscribers()) == list(large.subscribers())[:100]
    small_answers, large_answers = first_attempts(small), first_attempts(large)
    assert small_answers == {k: large_answers[k] for k in small_answers}


def test_charges_messages_and_actions_replay_identically_for_a_seed():
    first = run_scenario(make_world(seed=3, start=START, subscribers=400))
    second = run_scenario(make_world(seed=3, start=START, subscribers=400))
    other = run_scenario(make_world(seed=4, start=START, subscribers=400))
    assert first == second
    assert first != other


def test_the_same_charge_within_minutes_gets_the_same_answer(default_world):
    for sub in list(default_world.subscribers())[:300]:
        at = sub.first_renewal_at + 3 * DAY
        args = (sub.id, "in_dup", sub.card.fingerprint, sub.amount, sub.currency)
        assert default_world.charge(*args, at) == default_world.charge(*args, at + MINUTES_4)


# -- actions -----------------------------------------------------------------------------------


@pytest.mark.parametrize("window", [HOUR, 7 * HOUR, 3 * DAY])
def test_actions_are_sorted_inside_their_windows(window):
    world = make_world(seed=8, start=START, subscribers=1500)
    clock, seen = START, 0
    run_until = START + timedelta(days=60)
    while clock < run_until:
        actions = list(world.actions(clock, clock + window))
        assert all(clock <= a.at < clock + window for a in actions)
        assert [a.at for a in actions] == sorted(a.at for a in actions)
        seen += len(actions)
        clock += window
    assert seen > 0


def test_cancelled_subscribers_do_nothing_afterwards_and_pay_only_open_invoices():
    world = make_world(seed=12, start=START, subscribers=1500)
    transcript = run_scenario(world, days=60)
    cancelled: set[str] = set()
    unpaid: set[str] = set()
    for entry in transcript:
        if isinstance(entry, tuple):
            sub_id, _, _, result = entry
            (unpaid.discard if result.paid else unpaid.add)(sub_id)
            continue
        assert entry.subscriber_id not in cancelled
        if isinstance(entry, Cancelled):
            cancelled.add(entry.subscriber_id)
        if isinstance(entry, PaidOnSession):
            assert entry.subscriber_id in unpaid
            unpaid.discard(entry.subscriber_id)
    assert cancelled


# -- decline mix -------------------------------------------------------------------------------


@pytest.mark.parametrize("factory", [make_world, make_alternate_world])
def test_first_attempt_failure_rate_is_plausible_and_insufficient_funds_leads(factory):
    results = first_attempts(factory(seed=42, start=START, subscribers=5000))
    failed = sum(not r.paid for r in results.values())
    assert 0.04 <= failed / len(results) <= 0.20
    mix = declines(results)
    assert mix.most_common(1)[0][0] == "insufficient_funds"
    assert {"do_not_honor", "generic_decline", "authentication_required"} <= set(mix)


def test_mastercard_nsf_declines_carry_a_retry_after_code_reaching_payday(default_world,
                                                                        default_first):
    waits = {"24": 1, "25": 24, "26": 48, "27": 96, "28": 144, "29": 192, "30": 240}
    subs = {s.id: s for s in default_world.subscribers()}
    checked = 0
    for sub_id, result in default_first.items():
        if result.network_decline_code != "51" or subs[sub_id].card.brand != "mastercard":
            continue
        assert result.decline_code == "insufficient_funds"
        assert result.advice_code == "try_again_later"
        assert result.network_advice_code in waits
        at = subs[sub_id].first_renewal_at
        payday = default_world.paydays(sub_id, at, at + timedelta(days=40))[0]
        hours = (payday - at).total_seconds() / 3600
        assert waits[result.network_advice_code] >= min(hours, 240)
        checked += 1
    assert checked >= 10


def test_visa_codes_and_advice_match_the_decline(default_world, default_first):
    subs = {s.id: s for s in default_world.subscribers()}
    expected = {"insufficient_funds": "51", "do_not_honor": "05", "expired_card": "54",
                "issuer_not_available": "91"}
    for sub_id, result in default_first.items():
        if result.paid or subs[sub_id].card.brand != "visa":
            continue
        if result.decline_code in expected:
            assert result.network_decline_code == expected[result.decline_code]
        if result.decline_code in ("lost_card", "stolen_card", "pickup_card", "fraudulent"):
            assert result.advice_code == "do_not_try_again"


# -- outcomes follow state ---------------------------------------------------------------------


def test_hard_declines_never_succeed_on_the_same_card(default_world, default_first):
    subs = {s.id: s for s in default_world.subscribers()}
    hard = [k for k, r in default_first.items() if r.advice_code == "do_not_try_again"]
    assert len(hard) >= 5
    for sub_id in hard:
        sub = subs[sub_id]
        for day in range(1, 61):
            result = default_world.charge(sub_id, f"in_{sub_id}_0", sub.card.fingerprint,
                                          sub.amount, sub.currency,
                                          sub.first_renewal_at + day * DAY + 5 * HOUR)
            assert not result.paid


def test_retrying_after_payday_beats_retrying_just_before_it():
    rates = {}
    for label, shift in (("before", -6 * HOUR), ("after", 3 * HOUR)):
        world = make_world(seed=21, start=START, subscribers=5000)
        short = [s for s, r in zip(world.subscribers(), first_attempts(world).values(),
                                   strict=True) if r.decline_code == "insufficient_funds"]
        paid = 0
        for sub in short:
            at = sub.first_renewal_at
            payday = world.paydays(sub.id, at, at + timedelta(days=40))[0]
            when = max(payday + shift, at + HOUR)
            paid += world.charge(sub.id, f"in_{sub.id}_0", sub.card.fingerprint, sub.amount,
                                 sub.currency, when).paid
        rates[label] = paid / len(short)
    assert rates["after"] > rates["before"] + 0.25


def expiring(world: World) -> list[Subscriber]:
    """Subscribers whose card on file expires within the first 90 days."""
    limit = START + timedelta(days=90)
    return [s for s in world.subscribers()
            if datetime(s.card.exp_year + s.card.exp_month // 12, s.card.exp_month % 12 + 1, 1,
                        tzinfo=UTC) < limit]


def test_an_expired_card_works_only_after_a_card_update():
    world = make_world(seed=17, start=START, subscribers=5000)
    late = START + timedelta(days=95)
    subs = {s.id: s for s in expiring(world)}
    assert len(subs) >= 100
    for sub in subs.values():
        result = world.charge(sub.id, "in_late", sub.card.fingerprint, sub.amount,
                              sub.currency, late)
        assert (result.paid, result.failure_code) == (False, "expired_card")
        world.message(Message(sub.id, "in_late", "card_update_request", "email", late))
    updates: dict[str, CardUpdated] = {}
    for action in world.actions(START, late + 20 * DAY):
        if isinstance(action, CardUpdated) and action.subscriber_id in subs:
            updates.setdefault(action.subscriber_id, action)  # the first replacement only
    assert len(updates) >= len(subs) // 2
    paid = 0
    for sub_id, update in updates.items():
        sub, at = subs[sub_id], max(update.at, late) + DAY
        if update.card.fingerprint != sub.card.fingerprint:
            old = world.charge(sub_id, "in_late", sub.card.fingerprint, sub.amount,
                               sub.currency, at)
            assert old.failure_code == "expired_card"
        paid += any(world.charge(sub_id, "in_late", update.card.fingerprint, sub.amount,
                                 sub.currency, at + n * 3 * DAY).paid for n in range(4))
    assert paid >= 0.8 * len(updates)


def test_messages_raise_the_rate_of_customer_card_updates():
    manual = {}
    for send in (True, False):
        world = make_world(seed=33, start=START, subscribers=5000)
        at = START + timedelta(days=95)
        broken = set()
        for sub in world.subscribers():
            result = world.charge(sub.id, "in_x", sub.card.fingerprint, sub.amount,
                                  sub.currency, at)
            if result.failure_code == "expired_card" or result.advice_code == "do_not_try_again":
                broken.add(sub.id)
                if send:
                    world.message(Message(sub.id, "in_x", "card_update_request", "email", at))
                    world.message(Message(sub.id, "in_x", "payment_failed", "email", at + DAY))
        actions = world.actions(START, at + 30 * DAY)
        manual[send] = sum(1 for a in actions if isinstance(a, CardUpdated)
                           and not a.automatic and a.subscriber_id in broken and a.at >= at)
        manual[send] /= len(broken)
    assert manual[True] > manual[False] + 0.1


# -- presets -----------------------------------------------------------------------------------


def test_the_alternate_world_differs_in_paydays_and_decline_mix(default_first):
    default = make_world(seed=42, start=START, subscribers=2000)
    alternate = make_alternate_world(seed=42, start=START, subscribers=2000)

    def payday_weekdays(world: World) -> Counter[int]:
        return Counter(p.weekday() for s in world.subscribers()
                       for p in world.paydays(s.id, START, START + timedelta(days=60)))

    one, two = payday_weekdays(default), payday_weekdays(alternate)
    distance = sum(abs(one[d] / one.total() - two[d] / two.total()) for d in range(7)) / 2
    assert distance > 0.1

    base = declines(default_first)
    other = declines(first_attempts(make_alternate_world(seed=42, start=START,
                                                         subscribers=5000)))
    nsf = "insufficient_funds"
    assert base[nsf] / base.total() > other[nsf] / other.total() + 0.05
    auth = "authentication_required"
    assert other[auth] / other.total() > 1.4 * base[auth] / base.total()


def test_an_unknown_card_is_declined_as_an_invalid_account(default_world):
    sub = default_world.subscribers()[0]
    result = default_world.charge(sub.id, "in_unknown", "not-a-card", sub.amount,
                                  sub.currency, sub.first_renewal_at)
    assert (result.paid, result.decline_code) == (False, "invalid_account")
