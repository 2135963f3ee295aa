"""Local clock and calendar of many instants at once, in one IANA zone, with numpy. Pure.

Smart timing judges hundreds of candidate hours per case (quiet hours, paydays, local hour), and
a ``ZoneInfo`` conversion per instant would dominate a batch of thousands of cases. A zone's UTC
offset changes only a few times a year, so it is read once a day over a block of a month and
bisected where two neighbouring days differ, and each zone's blocks are remembered: after the
first case in a zone and month, no conversion at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

HOUR_SECONDS = 3600
_SAMPLE_HOURS = 24  # no zone changes its offset twice within a day


def zone_of(name: str | None) -> ZoneInfo:
    """The zone, or UTC for a missing or unknown name."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def epoch_hours(at: datetime) -> float:
    """Hours since 1970-01-01 UTC (fractional)."""
    return at.timestamp() / HOUR_SECONDS


def from_epoch_hour(hour: float) -> datetime:
    return datetime.fromtimestamp(float(hour) * HOUR_SECONDS, UTC)


def utc_offsets_minutes(zone: ZoneInfo, hours: np.ndarray) -> np.ndarray:
    """The zone's UTC offset (minutes) at each instant of ``hours`` (epoch hours)."""
    hours = np.asarray(hours, dtype=np.float64)
    offsets = np.zeros(hours.shape, dtype=np.int64)
    if hours.size == 0:
        return offsets
    blocks = np.floor(hours / _BLOCK_HOURS).astype(np.int64)
    first, last = int(blocks.min()), int(blocks.max())
    for block in range(first, last + 1):
        starts, values = _block_segments(zone, block)
        inside = blocks == block if first != last else slice(None)
        index = np.searchsorted(starts, hours[inside], side="right") - 1
        offsets[inside] = values[np.clip(index, 0, None)]
    return offsets


_BLOCK_HOURS = 24 * 32  # offsets are worked out a block of hours at a time, and remembered


@lru_cache(maxsize=8192)
def _block_segments(zone: ZoneInfo, block: int) -> tuple[np.ndarray, np.ndarray]:
    """Where the zone's offset changes inside one block of hours: (start hours, offsets)."""
    first = float(block * _BLOCK_HOURS)
    samples = np.arange(first, first + _BLOCK_HOURS + _SAMPLE_HOURS, _SAMPLE_HOURS)
    sampled = np.array([_offset(zone, h) for h in samples], dtype=np.int64)
    # Change points: where two samples differ, bisect to the minute the offset changes.
    starts, values = [first], [sampled[0]]
    for i in np.flatnonzero(sampled[1:] != sampled[:-1]):
        starts.append(_change_point(zone, samples[i], samples[i + 1]))
        values.append(sampled[i + 1])
    return np.array(starts), np.array(values, dtype=np.int64)


def _offset(zone: ZoneInfo, hour: float) -> int:
    offset = from_epoch_hour(hour).astimezone(zone).utcoffset() or timedelta(0)
    return int(offset.total_seconds() // 60)


def _change_point(zone: ZoneInfo, low: float, high: float) -> float:
    """The first instant (to the minute) in (low, high] with ``high``'s offset."""
    target = _offset(zone, high)
    while high - low > 1 / 60:
        middle = (low + high) / 2
        if _offset(zone, middle) == target:
            high = middle
        else:
            low = middle
    return high


@dataclass(frozen=True)
class LocalCalendar:
    """Local wall-clock facts of many instants (arrays of equal length)."""

    hour: np.ndarray  # 0-23
    weekday: np.ndarray  # Monday 0 .. Sunday 6
    day: np.ndarray  # day of month, 1-31
    days_in_month: np.ndarray
    day_number: np.ndarray  # local days since 1970-01-01


def local_calendar(zone_name: str | None, hours: np.ndarray) -> LocalCalendar:
    """Local hour, weekday and day of month of each instant (epoch hours)."""
    hours = np.asarray(hours, dtype=np.float64)
    offsets = utc_offsets_minutes(zone_of(zone_name), hours)
    local_minutes = np.floor(hours * 60).astype(np.int64) + offsets
    day_number = local_minutes // (24 * 60)
    day_of_month, days_in_month = day_tables()
    return LocalCalendar(
        hour=(local_minutes // 60) % 24,
        weekday=(day_number + 3) % 7,  # 1970-01-01 was a Thursday
        day=day_of_month[day_number],
        days_in_month=days_in_month[day_number],
        day_number=day_number,
    )


TABLE_DAYS = 80_000  # days since 1970 the calendar tables cover (to the 2180s)


@lru_cache(maxsize=1)
def day_tables() -> tuple[np.ndarray, np.ndarray]:
    """Day of month and days in the month of every day number, looked up instead of computed."""
    days = np.arange(TABLE_DAYS).astype("datetime64[D]")
    months = days.astype("datetime64[M]")
    month_start = months.astype("datetime64[D]")
    day_of_month = (days - month_start).astype(np.int64) + 1
    days_in_month = ((months + 1).astype("datetime64[D]") - month_start).astype(np.int64)
    return day_of_month, days_in_month


def quiet_mask(hour: np.ndarray, quiet_start: int, quiet_end: int) -> np.ndarray:
    """True where the local hour falls in quiet hours [start, end) (wrapping midnight)."""
    if quiet_start == quiet_end:
        return np.zeros(hour.shape, dtype=bool)
    if quiet_start > quiet_end:
        return (hour >= quiet_start) | (hour < quiet_end)
    return (hour >= quiet_start) & (hour < quiet_end)
