"""Clocks: the only place the engine reads the time.

Pass a ``Clock``; never call ``datetime.now()``. A ``ScaledClock`` (the live sandbox) runs
simulated time faster than the wall clock; what is measured in real time (a webhook signature's
age, how far the inbox lags) is read through ``wall_clock`` and ``wall_seconds``.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """Wall-clock time, timezone-aware UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class VirtualClock:
    """A clock that moves only when told to (tests and the sandbox)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("VirtualClock needs an aware datetime")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError("a clock cannot go backwards")
        with self._lock:
            self._now += delta
            return self._now

    def set(self, moment: datetime) -> datetime:
        with self._lock:
            moment = moment.astimezone(UTC)
            if moment < self._now:
                raise ValueError("a clock cannot go backwards")
            self._now = moment
            return self._now


class ScaledClock:
    """Simulated time that runs ``speed`` times faster than the wall clock (the live sandbox)."""

    def __init__(self, start: datetime, speed: float, wall: Clock | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.wall = wall or SystemClock()
        self._origin_wall = self.wall.now()
        self._origin = start.astimezone(UTC)
        self.speed = speed

    def now(self) -> datetime:
        return self._origin + (self.wall.now() - self._origin_wall) * self.speed


def wall_clock(clock: Clock) -> Clock:
    """The clock real elapsed time is read on: a ``ScaledClock``'s wall clock, else the clock
    itself (the only time a virtual clock's callers have)."""
    return clock.wall if isinstance(clock, ScaledClock) else clock


def wall_seconds(clock: Clock, seconds: float) -> float:
    """How many real seconds ``seconds`` of ``clock``'s time took."""
    return seconds / clock.speed if isinstance(clock, ScaledClock) else seconds
