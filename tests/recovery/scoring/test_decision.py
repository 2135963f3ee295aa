"""The expected-value choice on hand-made chance curves."""

from __future__ import annotations

import numpy as np

from recovery.scoring.decision import Economics, choose_hour, value_next_attempt

HOURS = np.arange(0, 24 * 20, dtype=float)  # twenty days of whole hours after now


def test_a_payday_spike_is_chosen_over_an_earlier_flat_stretch():
    chances = np.full(HOURS.size, 0.05)
    payday = 24 * 9 + 8
    chances[payday:payday + 4] = 0.5
    result = choose_hour(chances, HOURS, attempts_left=1, spacing_hours=24)
    assert result.best == payday


def test_a_flat_low_curve_is_declined():
    result = choose_hour(np.full(HOURS.size, 0.015), HOURS, attempts_left=3, spacing_hours=24)
    assert result.best is None
    # Not the floor alone: a chance worth less than an attempt's cost is declined too.
    costly = Economics(attempt_cost=0.2, min_chance=0.0)
    assert choose_hour(np.full(HOURS.size, 0.1), HOURS, 3, 24, costly).best is None


def test_earlier_is_preferred_on_ties_and_by_the_discount():
    flat = np.full(HOURS.size, 0.3)
    assert choose_hour(flat, HOURS, 1, 24).best == 0
    no_discount = Economics(daily_discount=0.0)
    assert choose_hour(flat, HOURS, 1, 24, no_discount).best == 0


def test_with_attempts_to_spare_an_early_fair_chance_is_taken_before_the_spike():
    chances = np.full(HOURS.size, 0.02)
    chances[10] = 0.3  # a fair chance soon
    chances[24 * 10] = 0.6  # a better one later, still reachable after the spacing
    assert choose_hour(chances, HOURS, attempts_left=1, spacing_hours=24).best == 24 * 10
    assert choose_hour(chances, HOURS, attempts_left=2, spacing_hours=24).best == 10
    # ...but not when the spacing would make the spike unreachable after it.
    assert choose_hour(chances, HOURS, 2, spacing_hours=24 * 11).best == 24 * 10


def test_values_match_a_brute_force_recursion():
    rng = np.random.default_rng(3)
    hours = np.sort(rng.choice(200, size=40, replace=False)).astype(float)
    chances = rng.uniform(0, 0.4, size=hours.size)
    economics = Economics()
    spacing = 24.0

    def best(start: int, left: int) -> float:
        if left == 0:
            return 0.0
        top = 0.0
        for j in range(start, hours.size):
            q = chances[j] * economics.later_fatigue ** (3 - left)
            nxt = int(np.searchsorted(hours, hours[j] + spacing - 1e-9))
            d = (1 - economics.daily_discount) ** (hours[j] / 24)
            top = max(top, q * d - economics.attempt_cost + (1 - q) * best(nxt, left - 1))
        return top

    values = value_next_attempt(chances, hours, 3, spacing, economics)
    assert np.isclose(max(values.max(), 0.0), best(0, 3))
