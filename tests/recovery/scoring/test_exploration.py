"""Exploration: the logged propensity is the chosen hour's probability, and they sum to 1."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from recovery.scoring.exploration import choice_distribution, draw, safe_set

VALUES = np.array([0.10, 0.30, 0.29, 0.05, 0.25, 0.31, 0.20])
GREEDY = 5


@pytest.mark.parametrize("share", [0.0, 0.1, 0.5])
def test_the_choice_distribution_sums_to_one_over_the_candidates(share):
    distribution = choice_distribution(VALUES, GREEDY, share)
    assert np.isclose(distribution.sum(), 1.0)
    members = safe_set(VALUES, GREEDY)
    assert set(np.flatnonzero(distribution)) <= set(members)
    assert GREEDY in members and 3 not in members  # far from the best: never explored


@pytest.mark.parametrize("share", [0.1, 0.5])
def test_the_logged_propensity_is_the_probability_of_the_chosen_hour(share):
    distribution = choice_distribution(VALUES, GREEDY, share)
    counts = Counter()
    for n in range(4000):
        picked = draw(VALUES, GREEDY, share, f"case-{n}")
        assert np.isclose(picked.propensity, distribution[picked.index])
        counts[picked.index] += 1
    for index, probability in enumerate(distribution):
        assert abs(counts[index] / 4000 - probability) < 0.03


def test_draws_are_seeded_by_the_decision():
    first = [draw(VALUES, GREEDY, 0.5, f"case-{n}").index for n in range(50)]
    assert first == [draw(VALUES, GREEDY, 0.5, f"case-{n}").index for n in range(50)]
    assert draw(VALUES, GREEDY, 0.0, "x").propensity == 1.0
