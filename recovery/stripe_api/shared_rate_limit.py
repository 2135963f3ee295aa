"""Stripe request pacing shared by every process that uses one database (GCRA, a row per key).

``acquire`` reserves the key's next request slot with one atomic statement in its own short
transaction on its own connection, then sleeps outside any transaction. It never joins a
caller's session, and while the database cannot answer it paces with an in-process bucket.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import BigInteger, Connection, Engine, case, literal
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.dml import ReturningInsert

from models import RateLimitSlot
from recovery.runtime.db import DIALECT_INSERTS
from recovery.stripe_api.rate_limit import TokenBucket

log = logging.getLogger("recovery.rate_limit")

SLOTS = RateLimitSlot.__table__
# After a failed statement the in-process bucket paces alone this long before the database is
# tried again, so an outage does not add a failing connection attempt to every Stripe request.
DATABASE_RETRY_SECONDS = 5.0
# SQLite has one write lock per file. A caller that reaches Stripe inside a transaction that has
# already written holds it, so the engine's 30 s busy timeout would stall that very request: the
# reservation waits this long for the lock, then the in-process bucket paces the request.
SQLITE_LOCK_WAIT_MS = 1000
MICROSECONDS = 1_000_000


class SharedRateLimiter:
    """``rate_per_second`` requests per key, bursts up to ``burst``, counted across processes.

    Generic cell rate algorithm: a key's row holds its "theoretical arrival time" (TAT). A
    request moves it to ``max(TAT, now) + 1/rate`` and may go once ``now`` is within ``burst``
    intervals of the new TAT, which is a token bucket of ``burst`` tokens refilled at ``rate``.
    ``burst`` defaults to one second's worth, as ``TokenBucket``'s does. Times are whole
    microseconds, the interval rounded up so rounding never lets a request through early.

    ``wall_time`` must agree between processes, so it is ``time.time`` and not the engine's
    (possibly virtual) Clock: hosts keep it in sync with NTP, and a skew of s seconds lets up to
    ``rate * s`` extra requests through. ``monotonic`` drives the fallback bucket only.
    """

    def __init__(
        self,
        rate_per_second: float | None,
        burst: int | None = None,
        *,
        db_engine: Engine,
        wall_time: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        # The fallback validates the settings and stands in while the database is unreachable:
        # then each process paces alone, as a lone worker would.
        self._fallback = TokenBucket(rate_per_second, burst, monotonic=monotonic, sleep=sleep)
        if db_engine.dialect.name not in DIALECT_INSERTS:
            raise ValueError(f"shared rate limits need SQLite or PostgreSQL, "
                             f"not {db_engine.dialect.name}")
        self.rate_per_second = rate_per_second
        self.burst = self._fallback.burst
        self._interval_us = (math.ceil(MICROSECONDS / rate_per_second)
                             if rate_per_second is not None else 0)
        self._db_engine = db_engine
        self._upsert = DIALECT_INSERTS[db_engine.dialect.name]
        self._wall_time = wall_time
        self._sleep = sleep
        self._lock = threading.Lock()
        self._database_failing = False
        self._retry_database_at = 0.0

    def acquire(self, key: str = "default") -> float:
        """Take one slot for ``key``, sleeping until it comes; return seconds waited."""
        if self.rate_per_second is None:
            return 0.0  # unlimited: no database round trip
        wait = self._reserve_shared(key)
        if wait is None:
            return self._fallback.acquire(key)
        if wait > 0:
            self._sleep(wait)  # outside the transaction, which has already committed
        return wait

    def _reserve_shared(self, key: str) -> float | None:
        """Reserve the key's next slot in the database; ``None`` when the database failed."""
        now = self._wall_time()
        if self._database_failing and now < self._retry_database_at:
            return None
        now_us = int(now * MICROSECONDS)
        try:
            with self._db_engine.connect() as connection, self._short_lock_wait(connection):
                arrival_us = connection.execute(self._reservation(key, now_us)).scalar_one()
                connection.commit()
        except SQLAlchemyError as error:
            self._note_failure(now, error)
            return None
        self._note_success()
        wait_us = arrival_us - self.burst * self._interval_us - now_us
        return max(wait_us, 0) / MICROSECONDS

    def _reservation(self, key: str, now_us: int) -> ReturningInsert:
        """One statement that creates the key's row on first use or moves its TAT on; the
        upsert takes the row lock (PostgreSQL) or the write lock (SQLite), so concurrent
        callers each get their own slot. It returns the new TAT."""
        current = SLOTS.c.theoretical_arrival_us
        moment = literal(now_us, BigInteger())
        later_of_tat_and_now = case((current > moment, current), else_=moment)
        insert = self._upsert(SLOTS).values(limit_key=key,
                                            theoretical_arrival_us=now_us + self._interval_us)
        return insert.on_conflict_do_update(
            index_elements=[SLOTS.c.limit_key],
            set_={"theoretical_arrival_us": later_of_tat_and_now + self._interval_us},
        ).returning(current)

    @contextmanager
    def _short_lock_wait(self, connection: Connection) -> Iterator[None]:
        """On SQLite, wait ``SQLITE_LOCK_WAIT_MS`` at most for the write lock, then restore the
        pooled connection's own busy timeout; PostgreSQL locks only the key's row."""
        if connection.dialect.name != "sqlite":
            yield
            return
        usual = connection.exec_driver_sql("PRAGMA busy_timeout").scalar_one()
        connection.exec_driver_sql(f"PRAGMA busy_timeout = {SQLITE_LOCK_WAIT_MS}")
        try:
            yield
        finally:
            connection.exec_driver_sql(f"PRAGMA busy_timeout = {int(usual)}")

    def _note_failure(self, now: float, error: SQLAlchemyError) -> None:
        with self._lock:
            first = not self._database_failing
            self._database_failing = True
            self._retry_database_at = now + DATABASE_RETRY_SECONDS
        if first:  # once per outage, not once per request
            log.warning("shared rate limit unavailable; this process paces its Stripe requests "
                        "alone until the database answers", extra={"error": type(error).__name__})

    def _note_success(self) -> None:
        if not self._database_failing:
            return  # the usual case, without taking the lock
        with self._lock:
            recovered, self._database_failing = self._database_failing, False
        if recovered:
            log.info("shared rate limit available again")
