"""Keyed randomness for the built-in worlds: each draw hashes the seed and the ids it is about.

No draw reads a shared stream, so an answer depends only on the seed and on what it concerns (a
subscriber, a card, an invoice, a moment), never on how many other draws came first.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence
from statistics import NormalDist
from typing import TypeVar

_SCALE = float(1 << 64)
_STANDARD_NORMAL = NormalDist()
T = TypeVar("T")


def _digest(seed: int, parts: tuple[object, ...], size: int = 8) -> bytes:
    text = f"{seed}|" + "|".join(map(str, parts))
    return hashlib.blake2b(text.encode(), digest_size=size).digest()


def unit(seed: int, *parts: object) -> float:
    """A uniform number in [0, 1) fixed by the seed and the parts."""
    return int.from_bytes(_digest(seed, parts), "big") / _SCALE


def units(seed: int, count: int, *parts: object) -> list[float]:
    """Up to eight independent uniforms from one hash (cheaper than ``count`` calls to unit)."""
    if not 1 <= count <= 8:
        raise ValueError("units gives one to eight numbers per hash")
    raw = _digest(seed, parts, 8 * count)
    return [int.from_bytes(raw[8 * n:8 * n + 8], "big") / _SCALE for n in range(count)]


def token(seed: int, *parts: object, length: int = 16) -> str:
    """A stable lower-case hex token (used for card fingerprints)."""
    text = "|".join(str(part) for part in (seed, *parts))
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()[:length]


def stream(seed: int, *parts: object) -> random.Random:
    """A private generator for one subject (str seeds go through SHA-512: stable everywhere)."""
    return random.Random("|".join(str(part) for part in (seed, *parts)))


def pick(u: float, weighted: Sequence[tuple[T, float]]) -> T:
    """The entry of ``weighted`` that the uniform ``u`` falls on, by cumulative weight."""
    total = sum(weight for _, weight in weighted)
    mark = u * total
    for name, weight in weighted:
        mark -= weight
        if mark < 0:
            return name
    return weighted[-1][0]


def lognormal_hours(u: float, median_hours: float, sigma: float) -> float:
    """A log-normal delay from a uniform draw (inverse CDF of the standard normal)."""
    u = min(max(u, 1e-9), 1 - 1e-9)
    return median_hours * math.exp(sigma * _STANDARD_NORMAL.inv_cdf(u))
