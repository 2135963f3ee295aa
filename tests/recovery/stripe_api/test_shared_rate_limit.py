"""Shared rate limits: limiters with their own engines (as separate worker processes have) pace
one Stripe account together through the database, on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import pytest
import respx
from sqlalchemy import Engine, event, select, text

from models import RateLimitSlot
from recovery.runtime import migrations
from recovery.runtime.db import make_engine
from recovery.stripe_api import shared_rate_limit
from recovery.stripe_api.rate_limit import TokenBucket
from recovery.stripe_api.shared_rate_limit import DATABASE_RETRY_SECONDS, SharedRateLimiter
from recovery.wiring import build_rate_limiter
from tests.webhooks import payloads as p

EPOCH_NOW = 1_795_000_000.25  # a late-2026 wall time


class SharedFakeTime:
    """One wall clock for every limiter. Sleeps are recorded but do not move it: each process
    sleeps on its own, so one process's wait must not count as time passing for the others."""

    def __init__(self) -> None:
        self.now = EPOCH_NOW
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


@pytest.fixture
def fake_time() -> SharedFakeTime:
    return SharedFakeTime()


@pytest.fixture
def engines(database_url) -> Iterator[tuple[Engine, Engine]]:
    """Two engines on one database, as two worker processes would have."""
    pair = (make_engine(database_url, pool_size=2), make_engine(database_url, pool_size=2))
    yield pair
    for engine in pair:
        engine.dispose()


def limiter(engine: Engine, fake_time: SharedFakeTime, rate: float | None = 25,
            burst: int | None = 25) -> SharedRateLimiter:
    return SharedRateLimiter(rate, burst, db_engine=engine, wall_time=fake_time.time,
                             monotonic=fake_time.time, sleep=fake_time.sleep)


def statements_on(engine: Engine) -> list[str]:
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute",
                 lambda _conn, _cursor, statement, *_args: seen.append(statement))
    return seen


def test_two_processes_share_one_accounts_slots(engines, fake_time):
    first, second = (limiter(engine, fake_time) for engine in engines)

    waits = []
    for _ in range(50):
        waits += [first.acquire("acct_a"), second.acquire("acct_a")]

    # 100 requests at 25/s with a burst of 25: 25 at once, then one every 1/25 s, in whichever
    # process asks. Buckets per process would let each send 25 at once and finish within 1 s.
    assert sorted(waits) == pytest.approx([0.0] * 25 + [n / 25 for n in range(1, 76)])
    assert max(waits) >= (100 - 25) / 25 - 1e-6
    assert sorted(fake_time.sleeps) == pytest.approx([n / 25 for n in range(1, 76)])


def test_slots_refill_with_time_up_to_the_burst_and_keys_are_separate(engines, fake_time):
    first, second = (limiter(engine, fake_time, rate=2, burst=4) for engine in engines)

    assert [first.acquire("acct_a") for _ in range(4)] == [0.0] * 4
    assert second.acquire("acct_a") == pytest.approx(0.5)
    assert second.acquire("acct_b") == 0.0  # another account has its own slots

    fake_time.now += 60  # a long idle spell refills only up to the burst
    assert [second.acquire("acct_a") for _ in range(4)] == [0.0] * 4
    assert first.acquire("acct_a") == pytest.approx(0.5)


def test_unlimited_never_touches_the_database(engines, fake_time):
    engine = engines[0]
    seen = statements_on(engine)
    unlimited = limiter(engine, fake_time, rate=None, burst=None)

    assert all(unlimited.acquire("acct_a") == 0.0 for _ in range(100))
    assert seen == []
    assert fake_time.sleeps == []


def test_without_its_table_the_limiter_paces_in_process_and_warns_once(tmp_path, fake_time,
                                                                        caplog):
    url = f"sqlite:///{tmp_path / 'unmigrated.db'}"
    engine = make_engine(url, pool_size=1)
    seen = statements_on(engine)
    limited = limiter(engine, fake_time, rate=1, burst=1)

    with caplog.at_level(logging.WARNING, logger="recovery.rate_limit"):
        waits = [limited.acquire("acct_a") for _ in range(3)]

    assert waits == pytest.approx([0.0, 1.0, 2.0])  # the in-process bucket, on frozen time
    assert len(caplog.records) == 1
    assert "paces its Stripe requests alone" in caplog.records[0].getMessage()
    tried = len(seen)

    migrations.upgrade(url)  # the database comes back ...
    assert limited.acquire("acct_a") == pytest.approx(3.0)
    assert len(seen) == tried  # ... but is not asked again until the retry delay has passed
    fake_time.now += DATABASE_RETRY_SECONDS
    assert limited.acquire("acct_a") == 0.0
    with engine.connect() as connection:
        assert connection.execute(select(RateLimitSlot.limit_key)).scalars().all() == ["acct_a"]
    engine.dispose()


def test_an_unreachable_database_falls_back_to_the_in_process_bucket(fake_time, caplog):
    nowhere = make_engine("postgresql://postgres@127.0.0.1:1/recovery", pool_size=1)
    limited = limiter(nowhere, fake_time, rate=1, burst=1)

    with caplog.at_level(logging.WARNING, logger="recovery.rate_limit"):
        assert [limited.acquire() for _ in range(2)] == pytest.approx([0.0, 1.0])

    assert len(caplog.records) == 1
    nowhere.dispose()


def test_a_caller_holding_sqlites_write_lock_is_not_stalled(tmp_path, fake_time, monkeypatch):
    # A caller that reaches Stripe inside a transaction that has written holds SQLite's one
    # write lock; the reservation must give up quickly instead of waiting the 30 s busy timeout.
    monkeypatch.setattr(shared_rate_limit, "SQLITE_LOCK_WAIT_MS", 50)
    url = f"sqlite:///{tmp_path / 'locked.db'}"
    migrations.upgrade(url)
    engine = make_engine(url, pool_size=2)
    limited = limiter(engine, fake_time, rate=1, burst=1)

    with engine.connect() as caller:
        caller.execute(text("INSERT INTO rate_limit_slot VALUES ('acct_other', 0)"))
        started = time.monotonic()
        assert limited.acquire("acct_a") == 0.0
        assert time.monotonic() - started < 1.0
        caller.rollback()

    with engine.connect() as connection:  # the pooled connection keeps its usual busy timeout
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar_one() == 30000
    engine.dispose()


class WallReading:
    """``time.time`` that remembers its last reading: the ``now`` a limiter reserved at."""

    def __init__(self) -> None:
        self.last = 0.0

    def __call__(self) -> float:
        self.last = time.time()
        return self.last


def test_concurrent_acquirers_never_exceed_the_rate(database_url):
    """Real time, real sleeps: four acquirers with their own engines and limiters start together.
    Every window of the slots they are granted holds at most ``burst + rate * window`` of them,
    and each acquirer really sleeps until its slot."""
    rate, burst, acquirers, each = 50.0, 5, 4, 10
    engines = [make_engine(database_url, pool_size=1) for _ in range(acquirers)]
    start = threading.Barrier(acquirers)
    slots: list[float] = []
    early_wakes: list[float] = []
    lock = threading.Lock()

    def acquire_all(engine: Engine) -> None:
        reading = WallReading()
        limited = SharedRateLimiter(rate, burst, db_engine=engine, wall_time=reading)
        start.wait()
        for _ in range(each):
            waited = limited.acquire("acct_a")
            slot = reading.last + waited
            woke = time.time()
            with lock:
                slots.append(slot)
                if woke < slot - 0.002:
                    early_wakes.append(slot - woke)

    threads = [threading.Thread(target=acquire_all, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for engine in engines:
        engine.dispose()

    slots.sort()
    assert len(slots) == acquirers * each
    assert early_wakes == []
    # Slots come from the database, so scheduling jitter cannot blur them; the microsecond
    # allowance covers the wall time's rounding. Buckets per process would grant
    # acquirers * burst = 20 slots at the same instant.
    for first in range(len(slots)):
        for last in range(first, len(slots)):
            window = slots[last] - slots[first]
            assert last - first + 1 <= burst + rate * (window + 1e-5)
    assert slots[-1] - slots[0] >= (acquirers * each - burst) / rate - 1e-5


def test_the_engines_gateway_reserves_its_slots_in_the_database(services):
    route = f"https://api.stripe.com/v1/invoices/{p.INVOICE_ID}"
    with respx.mock(assert_all_called=True) as stripe_api:
        stripe_api.get(route).respond(200, json=p.invoice_object(p.LATEST))
        services.engine.gateway.retrieve_invoice(p.INVOICE_ID, stripe_account="acct_connected")

    with services.sessions() as session:
        slots = session.scalars(select(RateLimitSlot)).all()
    assert [slot.limit_key for slot in slots] == ["acct_connected"]
    assert slots[0].theoretical_arrival_us / 1e6 == pytest.approx(time.time(), abs=60)


def test_a_database_makes_the_limit_shared_and_none_keeps_it_in_process(engines):
    shared = build_rate_limiter(80.0, engines[0])
    alone = build_rate_limiter(80.0, None)

    assert isinstance(shared, SharedRateLimiter)
    assert isinstance(alone, TokenBucket)
    assert shared.burst == alone.burst == 80
    assert isinstance(build_rate_limiter(None, engines[0]), TokenBucket)
