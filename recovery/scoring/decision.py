"""Expected-value choice of the next retry's hour over the attempts left. Pure numpy.

Given each candidate hour's chance of success p(t), the value of spending the next attempt at
hour j is what it recovers now (discounted: earlier money, and a customer who keeps access, is
worth more) minus what an attempt costs the card (each decline makes the issuer's next answer
likelier to be "no", and counts against the network budget), plus, if it fails, the best that
the remaining attempts can still do from ``spacing`` hours later. A backward dynamic programme
over the hourly grid with suffix maxima gives all of it in O(k * N):

    V_s(i) = max(0, max_{j >= i} [q_s(j) d(j) - c + (1 - q_s(j)) V_{s-1}(next(j))])

where V_0 = 0, next(j) is the first candidate at least ``spacing`` after j, and q_s = p scaled by
``later_fatigue`` for every attempt already spent before it. The next attempt goes where the
first stage's bracket is largest (the earliest on a tie); when it is not above zero (keeping the
card untouched is worth more) or no hour reaches ``min_chance``, the attempt is not spent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TIE = 1e-12


@dataclass(frozen=True)
class Economics:
    """What a recovery and an attempt are worth, as shares of the invoice's amount."""

    daily_discount: float = 0.01  # a recovery one day later is worth 1% less
    attempt_cost: float = 0.02  # card fatigue and network cost of one declined-or-not attempt
    later_fatigue: float = 0.85  # a later attempt's chance, per attempt already spent before it
    min_chance: float = 0.02  # below this everywhere, no attempt is worth making


@dataclass(frozen=True)
class Valuation:
    """The value of spending the next attempt at each candidate, and the greedy answer."""

    values: np.ndarray  # one per candidate
    best: int | None  # index of the greedy hour; None: keep the card untouched


def value_next_attempt(chances: np.ndarray, hours_after_now: np.ndarray, attempts_left: int,
                       spacing_hours: float, economics: Economics = Economics()) -> np.ndarray:
    """The value of spending the next attempt at each candidate hour (ascending hours)."""
    chances = np.clip(np.asarray(chances, dtype=np.float64), 0.0, 1.0)
    hours = np.asarray(hours_after_now, dtype=np.float64)
    discount = (1.0 - economics.daily_discount) ** (np.maximum(hours, 0.0) / 24.0)
    # Index of the first candidate at least ``spacing`` later; len(hours) is "none left".
    following = np.searchsorted(hours, hours + spacing_hours - 1e-9, side="left")
    later = np.zeros(hours.size + 1)  # V_{s-1} at each index, 0 past the end
    values = np.zeros(hours.size)
    for stage in range(1, max(attempts_left, 1) + 1):
        # Stage s (attempts left) is spent after (attempts_left - s) earlier attempts failed.
        spent_before = max(attempts_left, 1) - stage
        chance = chances * economics.later_fatigue ** spent_before
        values = chance * discount - economics.attempt_cost + (1.0 - chance) * later[following]
        best_from = np.maximum.accumulate(values[::-1])[::-1]
        later = np.append(np.maximum(best_from, 0.0), 0.0)
    return values


def choose_hour(chances: np.ndarray, hours_after_now: np.ndarray, attempts_left: int,
                spacing_hours: float, economics: Economics = Economics()) -> Valuation:
    """The greedy answer: the earliest hour of highest value, or None when not worth it."""
    chances = np.asarray(chances, dtype=np.float64)
    if chances.size == 0:
        return Valuation(np.zeros(0), None)
    values = value_next_attempt(chances, hours_after_now, attempts_left, spacing_hours,
                                economics)
    top = float(values.max())
    if top <= 0.0 or float(chances.max()) < economics.min_chance:
        return Valuation(values, None)
    return Valuation(values, int(np.flatnonzero(values >= top - TIE)[0]))
