"""The worker gives way to the webhook receiver while Stripe delivers a burst of events.

Stripe waits for each delivery's answer and retries slow ones; what the worker does with a
stored event can wait some seconds (a retry is planned hours out). On a small machine both
compete for the same cores and, on SQLite, for the one write lock: during a billing run's burst
the receiver's answers slowed several-fold while the worker ran. So while deliveries arrive
faster than ``busy_per_second``, the worker's jobs skip their ticks and cut their drains short
after the batch in hand. No job waits longer than ``max_deferral_seconds``: then it runs one
tick (one batch, if the burst goes on) and waits again, so a long stream slows processing but
never stops it.

The arrival rate is read from the database (the inbox's highest row id over time, one index
lookup), so it counts the deliveries of every server sharing the database, not only this
worker's parent. PostgreSQL also spends an id on a delivery it finds to be a duplicate: those
count as load too, which they are.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("recovery.worker")

# How often the arrival rate is read again at most (jobs ask once per tick and per batch).
CHECK_SECONDS = 0.5


class ReceiverYield:
    """``busy()``: deliveries arrive faster than the threshold now. ``defer(job)``: the job
    should skip this tick (busy, and it has not waited its longest yet). Thread-safe: the
    scheduler runs jobs on several threads."""

    def __init__(self, inbox_high_water: Callable[[], int], *, busy_per_second: float,
                 max_deferral_seconds: float, check_seconds: float = CHECK_SECONDS,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._high_water, self._monotonic = inbox_high_water, monotonic
        self._busy_per_second, self._max_deferral = busy_per_second, max_deferral_seconds
        self._check_seconds = check_seconds
        self._lock = threading.Lock()
        self._last_read: tuple[float, int] | None = None
        self._busy = False
        self._deferred_since: dict[str, float] = {}

    def busy(self) -> bool:
        if self._busy_per_second <= 0:
            return False
        with self._lock:
            now = self._monotonic()
            if self._last_read is not None and now - self._last_read[0] < self._check_seconds:
                return self._busy
            try:
                high_water = self._high_water()
            except Exception:  # noqa: BLE001 - not knowing the rate must not stop the work
                log.warning("could not read the webhook arrival rate", exc_info=True)
                self._busy = False
                return False
            if self._last_read is not None:
                read_at, previous = self._last_read
                rate = (high_water - previous) / (now - read_at)
                if rate >= self._busy_per_second and not self._busy:
                    log.info("webhooks arriving fast: the worker gives way",
                             extra={"per_second": round(rate)})
                self._busy = rate >= self._busy_per_second
            self._last_read = (now, high_water)
            return self._busy

    def defer(self, job: str) -> bool:
        """True: skip this tick of ``job``. False: run it (quiet, or it has waited long enough;
        its wait starts again after this run)."""
        if not self.busy():
            with self._lock:
                self._deferred_since.pop(job, None)
            return False
        with self._lock:
            now = self._monotonic()
            since = self._deferred_since.setdefault(job, now)
            if now - since < self._max_deferral:
                return True
            self._deferred_since[job] = now
            log.info("a job put off by a webhook burst runs one batch",
                     extra={"job": job, "waited_seconds": round(now - since, 1)})
            return False

