"""Balances behind the built-in world's cards: chronic overdrafters, lost income, emptied accounts,
and shortfalls that issuers answer with a plain 05. Charges are asked with ``would_succeed`` so
that asking many times cannot tire the card."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from recovery.sandbox.world.builtin import BuiltinWorld, make_world

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@pytest.fixture(scope="module")
def world() -> BuiltinWorld:
    return make_world(seed=5, start=START, subscribers=6000)


def ask(world: BuiltinWorld, sub_id: str, invoice: str, at: datetime) -> bool:
    sub = next(s for s in world.subscribers() if s.id == sub_id)
    return world.would_succeed(sub_id, invoice, sub.card.fingerprint, sub.amount, sub.currency,
                               at)


def with_finances(world: BuiltinWorld, kind: str) -> list[str]:
    return [p.subscriber.id for p in world._profiles.values() if p.card.finances == kind]


def test_a_chronic_account_pays_just_after_its_wages_land_and_seldom_later(world):
    chronic = with_finances(world, "chronic")
    assert 0.03 <= len(chronic) / len(world.subscribers()) <= 0.10  # CFPB: 9%, scaled 25/37
    early = late = asked = 0
    for sub_id in chronic:
        paydays = world.paydays(sub_id, START + 10 * DAY, START + 70 * DAY)
        for n, (payday, following) in enumerate(zip(paydays, paydays[1:], strict=False)):
            early += ask(world, sub_id, f"in_early_{n}", payday + 3 * HOUR)
            late += ask(world, sub_id, f"in_late_{n}", payday + (following - payday) * 0.7)
            asked += 1
    assert asked > 500
    assert late / asked < 0.35
    assert early / asked > late / asked + 0.3


def test_some_shortfalls_outlast_three_paydays(world):
    """Lost income and emptied accounts: no payday helps, however the retries are timed."""
    short, lasting = 0, 0
    for sub in world.subscribers():
        at = START + 20 * DAY
        if ask(world, sub.id, "in_first", at):
            continue
        paydays = world.paydays(sub.id, at, at + 60 * DAY)[:3]
        if len(paydays) < 3:
            continue
        short += 1
        lasting += not any(ask(world, sub.id, "in_first", p + 3 * HOUR) for p in paydays)
    assert short > 200
    assert 0.03 <= lasting / short <= 0.6


def test_a_debit_card_left_at_an_old_bank_never_pays_again(world):
    moved = [p for p in world._profiles.values()
             if p.card.abandoned_at is not None and p.card.abandoned_at < START + 60 * DAY]
    assert len(moved) >= 10
    assert all(p.card.card.funding == "debit" for p in moved)
    for profile in moved:
        sub_id, gone = profile.subscriber.id, profile.card.abandoned_at
        for payday in world.paydays(sub_id, gone, gone + 45 * DAY):
            assert not ask(world, sub_id, "in_after_move", payday + 3 * HOUR)


def test_about_half_of_the_plain_05_answers_hide_a_shortfall(world):
    funds = world._issuers._funds
    hidden = plain = 0
    for sub in world.subscribers():
        result = world.charge(sub.id, "in_05", sub.card.fingerprint, sub.amount, sub.currency,
                              sub.first_renewal_at)
        if result.network_decline_code != "05" or result.decline_code not in (
                "do_not_honor", "generic_decline"):
            continue
        profile = world._profiles[sub.id]
        plain += 1
        hidden += funds.short_until(profile, profile.card, sub.amount,
                                    sub.first_renewal_at) is not None
    assert plain > 50
    assert 0.3 <= hidden / plain <= 0.7  # Adyen: about half of "do not honor" is funds
