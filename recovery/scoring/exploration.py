"""Exploration inside the safe set, with the exact probability of what was chosen.

With probability ``share`` a decision picks uniformly among the candidates whose value is within
``near`` of the best (all of them allowed by the rules, none much worse than greedy), otherwise
the greedy hour. The logged propensity is the probability the chosen hour had under that mixed
policy, so the log can be reweighted later (inverse propensity, doubly robust). Draws are seeded
by the case and the decision time: the same decision replays the same way (sandbox runs repeat).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

NEAR_BEST = 0.7  # explore among hours worth at least 70% of the best hour's value


@dataclass(frozen=True)
class Draw:
    index: int
    propensity: float
    explored: bool  # the draw took the exploring branch (it may still land on greedy)
    safe_set_size: int


def safe_set(values: np.ndarray, greedy: int, near: float = NEAR_BEST) -> np.ndarray:
    """Indexes of the candidates an exploring decision may pick (always includes greedy)."""
    best = float(values[greedy])
    members = np.flatnonzero(values >= near * best) if best > 0 else np.array([greedy])
    return members


def choice_distribution(values: np.ndarray, greedy: int, share: float,
                        near: float = NEAR_BEST) -> np.ndarray:
    """The probability of each candidate under the exploring policy (sums to 1)."""
    members = safe_set(values, greedy, near)
    probabilities = np.zeros(values.size)
    probabilities[members] = share / members.size
    probabilities[greedy] += 1.0 - share
    return probabilities


def draw(values: np.ndarray, greedy: int, share: float, seed_key: str,
         near: float = NEAR_BEST) -> Draw:
    """The hour to use: greedy, or with probability ``share`` one from the safe set."""
    members = safe_set(values, greedy, near)
    generator = np.random.default_rng(seed_of(seed_key))
    explored = share > 0 and generator.random() < share
    index = int(members[generator.integers(members.size)]) if explored else greedy
    propensity = share / members.size + (1.0 - share if index == greedy else 0.0)
    return Draw(index, float(propensity), bool(explored), int(members.size))


def hour_runs(hours: np.ndarray) -> list[list[int]]:
    """Ascending whole epoch hours as [first, last] runs of consecutive hours (compact to log)."""
    hours = np.asarray(hours, dtype=np.int64)
    if hours.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(hours) != 1)
    starts = np.concatenate([[0], breaks + 1])
    ends = np.concatenate([breaks, [hours.size - 1]])
    return [[int(hours[a]), int(hours[b])] for a, b in zip(starts, ends, strict=True)]


def seed_of(key: str) -> int:
    """A stable 64-bit seed from a text key (Python's ``hash`` changes between processes)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")
