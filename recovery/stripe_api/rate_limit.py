"""Client-side token buckets that keep the engine under Stripe's request-rate limits.

A bucket only paces callers (it sleeps); it never reads the wall clock, never raises, and knows
nothing of Stripe. Time comes from an injected monotonic function so tests can drive it. A bucket
paces one process; ``recovery/shared_rate_limit.py`` paces every process sharing a database.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

# Stripe allows 25 requests/s in test mode and 100/s in live mode per account
# (https://docs.stripe.com/rate-limits). Live stays below 100 to leave headroom for the
# account's own traffic, which shares the same limit.
TEST_MODE_RATE = 25.0
LIVE_MODE_RATE = 80.0


def default_rate(livemode: bool) -> float:
    """The documented default requests per second for one Stripe account."""
    return LIVE_MODE_RATE if livemode else TEST_MODE_RATE


class RateLimiter(Protocol):
    """What the gateway needs from a limiter: take a token for ``key``, return seconds waited."""

    def acquire(self, key: str = "default") -> float: ...


@dataclass
class _Bucket:
    tokens: float
    updated_at: float


class TokenBucket:
    """Per-key token buckets: ``rate_per_second`` tokens refill each second, up to ``burst``.

    ``rate_per_second=None`` means unlimited: ``acquire`` returns at once. ``burst`` defaults to
    one second's worth of tokens (at least 1). Callers reserve a token under a lock and sleep
    outside it, so waiting threads queue fairly without blocking other keys.
    """

    def __init__(
        self,
        rate_per_second: float | None,
        burst: int | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate_per_second is not None and rate_per_second <= 0:
            raise ValueError("rate_per_second must be positive, or None for unlimited")
        if burst is not None and burst < 1:
            raise ValueError("burst must be at least 1")
        self.rate_per_second = rate_per_second
        self.burst = burst if burst is not None else _default_burst(rate_per_second)
        self._monotonic = monotonic
        self._sleep = sleep
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str = "default") -> float:
        """Take one token for ``key``, sleeping until one is available; return seconds waited."""
        if self.rate_per_second is None:
            return 0.0
        wait = self._reserve(key)
        if wait > 0:
            self._sleep(wait)
        return wait

    def _reserve(self, key: str) -> float:
        """Take a token now (the balance may go negative) and return how long to wait for it."""
        assert self.rate_per_second is not None
        with self._lock:
            now = self._monotonic()
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(tokens=float(self.burst), updated_at=now)
            elapsed = max(0.0, now - bucket.updated_at)
            bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.rate_per_second)
            bucket.updated_at = now
            bucket.tokens -= 1.0
            if bucket.tokens >= 0:
                return 0.0
            return -bucket.tokens / self.rate_per_second


def _default_burst(rate_per_second: float | None) -> int:
    if rate_per_second is None:
        return 1
    return max(1, math.ceil(rate_per_second))
