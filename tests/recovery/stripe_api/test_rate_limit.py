"""Token buckets driven by a fake monotonic clock whose ``sleep`` moves time forward."""

from __future__ import annotations

import threading

import pytest

from recovery.stripe_api.rate_limit import LIVE_MODE_RATE, TEST_MODE_RATE, TokenBucket, default_rate


class FakeTime:
    """A monotonic clock that only moves when something sleeps (or a test advances it)."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def bucket(fake_time: FakeTime, rate: float | None, burst: int | None = None) -> TokenBucket:
    return TokenBucket(rate, burst, monotonic=fake_time.monotonic, sleep=fake_time.sleep)


def test_the_rate_is_respected_once_the_burst_is_spent(fake_time):
    limiter = bucket(fake_time, rate=5, burst=1)
    start = fake_time.now

    for _ in range(11):
        limiter.acquire()

    # One token at once, then one every 1/5 s: ten more tokens take two seconds.
    assert fake_time.now - start == pytest.approx(2.0)
    assert fake_time.sleeps == pytest.approx([0.2] * 10)


def test_a_burst_passes_without_waiting_then_paces(fake_time):
    limiter = bucket(fake_time, rate=2, burst=4)

    waits = [limiter.acquire() for _ in range(5)]

    assert waits[:4] == [0.0] * 4
    assert waits[4] == pytest.approx(0.5)


def test_the_default_burst_is_one_second_of_tokens(fake_time):
    limiter = bucket(fake_time, rate=3)

    assert limiter.burst == 3
    assert [limiter.acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.acquire() == pytest.approx(1 / 3)


def test_tokens_refill_with_time_up_to_the_burst(fake_time):
    limiter = bucket(fake_time, rate=1, burst=2)
    limiter.acquire()
    limiter.acquire()

    fake_time.now += 60  # a long idle spell refills only up to the burst

    assert [limiter.acquire() for _ in range(2)] == [0.0, 0.0]
    assert limiter.acquire() == pytest.approx(1.0)


def test_each_key_has_its_own_bucket(fake_time):
    limiter = bucket(fake_time, rate=1, burst=1)

    assert limiter.acquire("acct_a") == 0.0
    assert limiter.acquire("acct_b") == 0.0
    assert limiter.acquire() == 0.0  # "default" is a key like any other
    assert limiter.acquire("acct_a") == pytest.approx(1.0)
    assert fake_time.sleeps == pytest.approx([1.0])


def test_none_means_unlimited(fake_time):
    limiter = bucket(fake_time, rate=None)

    assert all(limiter.acquire("acct_a") == 0.0 for _ in range(1000))
    assert fake_time.sleeps == []


def test_waiting_threads_each_reserve_their_own_slot():
    # Frozen time: every caller reserves a token under the lock, so n callers wait 0, 1, ..., n-1.
    waits: list[float] = []
    lock = threading.Lock()
    limiter = TokenBucket(1, 1, monotonic=lambda: 0.0, sleep=lambda seconds: None)

    def take() -> None:
        wait = limiter.acquire("acct_a")
        with lock:
            waits.append(wait)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(waits) == pytest.approx([float(n) for n in range(8)])


@pytest.mark.parametrize(("rate", "burst"), [(0, None), (-1, None), (1, 0)])
def test_nonsense_settings_are_refused(rate, burst):
    with pytest.raises(ValueError):
        TokenBucket(rate, burst)


def test_documented_defaults():
    assert default_rate(livemode=False) == TEST_MODE_RATE == 25
    assert default_rate(livemode=True) == LIVE_MODE_RATE == 80
