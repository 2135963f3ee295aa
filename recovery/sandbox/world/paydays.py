"""Payday calendars of simulated customers: when wages land, as UTC instants of funds availability.

Pay periods are numbered slots; slot ``j`` runs from the funds of payday ``j`` to those of ``j+1``.
Holidays are ignored: only weekends move a payday (to the business day before, as payroll does).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

# Schedules by name. Weekly and biweekly ones repeat from an anchor payday; the others are
# calendar rules evaluated per month.
WEEKLY = {"weekly_fri": 7, "biweekly_fri": 14, "biweekly_thu": 14}
SEMIMONTHLY = ("semimonthly_1_15", "semimonthly_15_last")
MONTHLY = ("monthly_last_bday", "monthly_25", "monthly_first_bday")
KINDS = (*WEEKLY, *SEMIMONTHLY, *MONTHLY)

_WEEKDAY = {"weekly_fri": 4, "biweekly_fri": 4, "biweekly_thu": 3}
_EPOCH = date(2000, 1, 7)  # a Friday, the reference for weekly anchors


@dataclass(frozen=True)
class PaySchedule:
    kind: str
    timezone: str
    anchor: date  # weekly kinds: one payday of this customer; ignored otherwise
    funds_offset_hours: float  # when wages are usable, relative to local midnight of the payday


def make_schedule(kind: str, timezone: str, phase: float, funds_offset_hours: float) -> PaySchedule:
    """A schedule; ``phase`` in [0, 1) picks the week of a fortnight a biweekly payday is in."""
    if kind not in KINDS:
        raise ValueError(f"unknown payday schedule {kind!r}")
    anchor = _EPOCH
    if kind in WEEKLY:
        shift = (_WEEKDAY[kind] - _EPOCH.weekday()) % 7
        anchor = _EPOCH + timedelta(days=shift + 7 * int(phase * (WEEKLY[kind] // 7)))
    return PaySchedule(kind, timezone, anchor, funds_offset_hours)


def payday_date(schedule: PaySchedule, slot: int) -> date:
    """The local calendar date of payday number ``slot``."""
    kind = schedule.kind
    if kind in WEEKLY:
        return schedule.anchor + timedelta(days=WEEKLY[kind] * slot)
    if kind in SEMIMONTHLY:
        year, month = divmod(slot // 2, 12)
        first_half = slot % 2 == 0
        if kind == "semimonthly_1_15":
            day = date(year, month + 1, 1 if first_half else 15)
        else:
            day = date(year, month + 1, 15) if first_half else _last_day(year, month + 1)
        return _business_day_on_or_before(day)
    year, month = divmod(slot, 12)
    if kind == "monthly_last_bday":
        return _business_day_on_or_before(_last_day(year, month + 1))
    if kind == "monthly_25":
        return _business_day_on_or_before(date(year, month + 1, 25))
    return _business_day_on_or_after(date(year, month + 1, 1))


@lru_cache(maxsize=262_144)
def funds_at(schedule: PaySchedule, slot: int) -> datetime:
    """The UTC instant the wages of payday ``slot`` become spendable."""
    local_midnight = datetime.combine(payday_date(schedule, slot), time(), zone(schedule.timezone))
    moment = local_midnight + timedelta(hours=schedule.funds_offset_hours)
    return moment.astimezone(UTC)


def slot_at(schedule: PaySchedule, moment: datetime) -> int:
    """The pay period containing ``moment``: funds_at(slot) <= moment < funds_at(slot + 1)."""
    slot = _guess_slot(schedule, moment.astimezone(zone(schedule.timezone)).date())
    while funds_at(schedule, slot) > moment:
        slot -= 1
    while funds_at(schedule, slot + 1) <= moment:
        slot += 1
    return slot


def paydays_between(schedule: PaySchedule, start: datetime, end: datetime) -> list[datetime]:
    """Funds-availability instants in ``[start, end)``."""
    slot = slot_at(schedule, start) + 1
    found = []
    while (moment := funds_at(schedule, slot)) < end:
        found.append(moment)
        slot += 1
    return found


def _guess_slot(schedule: PaySchedule, day: date) -> int:
    kind = schedule.kind
    if kind in WEEKLY:
        return (day - schedule.anchor).days // WEEKLY[kind]
    month_index = day.year * 12 + day.month - 1
    if kind in SEMIMONTHLY:
        return month_index * 2 + (1 if day.day >= 15 else 0)
    return month_index


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _last_day(year: int, month: int) -> date:
    following = date(year + month // 12, month % 12 + 1, 1)
    return following - timedelta(days=1)


def _business_day_on_or_before(day: date) -> date:
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def _business_day_on_or_after(day: date) -> date:
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day
