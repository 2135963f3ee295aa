"""Local clock and calendar of many instants at once, in one IANA zone, with numpy. Pure.

Smart timing judges hundreds of candidate hours per case (quiet hours, paydays, local hour), and
a ``ZoneInfo`` conversion per instant would dominate a batch of thousands of cases. A zone's UTC
offset changes only a few times a year, so it is read once a day across the span and bisected
only where two neighbouring days differ: a few dozen conversions per case, not one per hour.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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
    """The zone's UTC offset (minutes) at each instant of ``hours`` (epoch hours, ascending)."""
    if hours.size == 0:
        return np.zeros(0, dtype=np.int64)
    first, last = float(hours[0]), float(hours[-1])
    samples = np.arange(first, last + _SAMPLE_HOURS, _SAMPLE_HOURS)
    sampled = np.array([_offset(zone, h) for h in samples], dtype=np.int64)
    # Change points: where two samples differ, bisect to the hour the offset changes.
    starts, values = [first], [sampled[0]]
    for i in np.flatnonzero(sampled[1:] != sampled[:-1]):
        starts.append(_change_point(zone, samples[i], samples[i + 1]))
        values.append(sampled[i + 1])
    index = np.searchsorted(np.array(starts), hours, side="right") - 1
    return np.array(values, dtype=np.int64)[np.clip(index, 0, None)]


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
    """Local hour, weekday and day of month of each instant (epoch hours, ascending)."""
    offsets = utc_offsets_minutes(zone_of(zone_name), hours)
    local_minutes = np.floor(hours * 60).astype(np.int64) + offsets
    minutes = local_minutes.astype("datetime64[m]")
    days = minutes.astype("datetime64[D]")
    months = days.astype("datetime64[M]")
    day_number = days.astype(np.int64)
    next_month_start = (months + 1).astype("datetime64[D]")
    return LocalCalendar(
        hour=(local_minutes // 60) % 24,
        weekday=(day_number + 3) % 7,  # 1970-01-01 was a Thursday
        day=(days - months.astype("datetime64[D]")).astype(np.int64) + 1,
        days_in_month=(next_month_start - months.astype("datetime64[D]")).astype(np.int64),
        day_number=day_number,
    )


def quiet_mask(hour: np.ndarray, quiet_start: int, quiet_end: int) -> np.ndarray:
    """True where the local hour falls in quiet hours [start, end) (wrapping midnight)."""
    if quiet_start == quiet_end:
        return np.zeros(hour.shape, dtype=bool)
    if quiet_start > quiet_end:
        return (hour >= quiet_start) | (hour < quiet_end)
    return (hour >= quiet_start) & (hour < quiet_end)
