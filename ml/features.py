"""The scorer's features: what is known about a case at decision time, as model input rows.

``candidate_frame`` turns one ``DecisionSnapshot`` and many candidate times into rows of
``FEATURE_COLUMNS``; training builds its rows with the same code (one candidate: the time the
attempt was made), so what the scorer serves is what it learned from. Everything is vectorised
over candidate times with numpy: no Python per row. Reads no database (see ``ml.history``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from ml.paydays import paydays_between

NS_PER_HOUR = 3_600_000_000_000
NS_PER_DAY = 24 * NS_PER_HOUR
HISTORY_LIMIT = 24  # the customer's most recent payments the payday features look at


@dataclass(frozen=True)
class CardFacts:
    brand: str | None
    funding: str | None
    country: str | None
    exp_month: int | None
    exp_year: int | None


@dataclass(frozen=True)
class CustomerHistory:
    """Only what happened strictly before the decision time."""

    paid_days_of_month: tuple[int, ...]  # local day of month of each earlier successful payment
    paid_hours: tuple[int, ...]  # local hour of each earlier successful payment
    last_success_at: datetime | None
    earlier_failures: int  # earlier failed invoices (cases) of this customer
    earlier_recoveries: int  # of those, recovered


@dataclass(frozen=True)
class DecisionSnapshot:
    """Everything known about one case at decision time."""

    account_id: str
    case_id: int | None
    timezone: str  # IANA, the customer's
    first_failed_at: datetime
    last_attempt_at: datetime | None
    attempt_number: int  # attempts on this invoice so far (Stripe's + ours) + 1
    decline_class: str | None
    decline_code: str | None
    advice_code: str | None
    network_decline_code: str | None
    network_advice_code: str | None
    card: CardFacts
    amount: int
    currency: str
    interval_days: int | None  # plan interval, if known
    customer_since: datetime | None  # tenure start, if known
    history: CustomerHistory
    # Account base success rate per decline class (+ "all"), from attempts before the decision.
    account_rates: Mapping[str, float]


CATEGORICAL: tuple[str, ...] = (
    "decline_class", "decline_code", "advice_code", "network_decline_code",
    "network_advice_code", "card_brand", "card_funding", "card_country", "currency",
)
NUMERIC: tuple[str, ...] = (
    "attempt_number", "hours_since_first_failure", "hours_since_last_attempt",
    "local_hour", "local_weekday", "local_day_of_month", "days_to_month_end",
    "payday_distance_days", "days_since_payday", "paid_hour_distance", "paid_count",
    "paydays_since_last_attempt",
    "days_since_last_success", "earlier_failures", "earlier_recoveries",
    "months_to_expiry", "log_amount", "interval_days", "tenure_days",
    "account_rate_class", "account_rate_all",
)
FEATURE_COLUMNS: tuple[str, ...] = CATEGORICAL + NUMERIC
MISSING = "none"  # a categorical value nobody reported


def candidate_frame(snapshot: DecisionSnapshot, times: Sequence[datetime]) -> pd.DataFrame:
    """One row per candidate time, columns ``FEATURE_COLUMNS``.

    ``times`` may be datetimes, a ``pandas.DatetimeIndex`` or a ``datetime64`` array (the
    last two skip converting each datetime in Python: use them for long candidate lists)."""
    return candidate_frames([(snapshot, times)])


def candidate_frames(pairs: Sequence[tuple[DecisionSnapshot, Sequence[datetime]]]
                     ) -> pd.DataFrame:
    """Many snapshots at once, rows in the order given (each snapshot's times in turn).

    Categorical columns come as pandas ``category`` dtype and numeric ones as float32, so
    millions of rows stay cheap to build and to encode."""
    snapshots = [snapshot for snapshot, _ in pairs]
    chunks = [utc_ns(times) for _, times in pairs]
    counts = np.array([len(chunk) for chunk in chunks], dtype=np.int64)
    at = np.concatenate(chunks) if chunks else np.empty(0, dtype=np.int64)
    rows = _Rows(counts)
    local = _local_ns(at, rows, [s.timezone for s in snapshots])
    calendar = _calendar(local)
    columns: dict[str, np.ndarray] = {}
    columns.update(_categorical(snapshots, rows))
    columns.update(_case_numbers(snapshots, rows, at))
    columns.update(calendar.columns)
    columns.update(_history(snapshots, rows, at, calendar))
    columns["paydays_since_last_attempt"] = _paydays_since_last_attempt(snapshots, rows, local)
    return pd.DataFrame({name: _as_column(name, columns[name]) for name in FEATURE_COLUMNS},
                        copy=False)


def _as_column(name: str, values):
    return values if name in CATEGORICAL else values.astype(np.float32, copy=False)


@dataclass(frozen=True)
class _Rows:
    """Rows are grouped by snapshot, in order: a per-snapshot value spreads by repetition."""

    counts: np.ndarray

    def spread(self, per_snapshot: np.ndarray) -> np.ndarray:
        return np.repeat(per_snapshot[:len(self.counts)], self.counts)


def utc_ns(times) -> np.ndarray:
    """Candidate times as int64 nanoseconds since the epoch, UTC."""
    if isinstance(times, pd.DatetimeIndex):
        if times.unit == "ns" and str(times.tz) == "UTC":
            return times.asi8
        index = times if times.tz is not None else times.tz_localize("UTC")
        return index.tz_convert("UTC").as_unit("ns").asi8
    if isinstance(times, np.ndarray) and np.issubdtype(times.dtype, np.datetime64):
        return times.astype("datetime64[ns]").astype(np.int64)
    if len(times) == 0:
        return np.empty(0, dtype=np.int64)
    if len(times) < FEW_TIMES:  # pandas' own conversion costs a millisecond however few
        return np.array([epoch_ns(t) for t in times], dtype=np.int64)
    return pd.DatetimeIndex(pd.to_datetime(list(times), utc=True)).as_unit("ns").asi8


FEW_TIMES = 64
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def epoch_ns(at: datetime) -> int:
    """Nanoseconds since the epoch of an aware datetime, exactly."""
    return (at - EPOCH) // MICROSECOND * 1000


OFFSET_STEP = 15 * 60 * 1_000_000_000  # zones change offset on a quarter hour at the finest


def _local_ns(at: np.ndarray, rows: _Rows, zones: list[str]) -> np.ndarray:
    """Wall-clock nanoseconds in each row's zone.

    Per zone, the offset is read once per quarter hour of the span its rows cover (offsets
    change only on quarter hours), then looked up per row: no conversion per row."""
    local = at.copy()
    codes, names = pd.factorize(np.asarray(zones, dtype=object))
    zone_of_row = rows.spread(codes) if len(names) > 1 else None
    for code, zone in enumerate(names):
        if zone in ("UTC", "Etc/UTC"):
            continue
        picked = slice(None) if zone_of_row is None else np.flatnonzero(zone_of_row == code)
        times = at[picked]
        start = times.min() // OFFSET_STEP * OFFSET_STEP
        steps = np.arange(start, times.max() + OFFSET_STEP, OFFSET_STEP)
        index = pd.DatetimeIndex(steps.astype("datetime64[ns]"), tz="UTC")
        offsets = index.tz_convert(zone).tz_localize(None).asi8 - steps
        local[picked] = times + offsets[(times - start) // OFFSET_STEP]
    return local


def _paydays_since_last_attempt(snapshots: list[DecisionSnapshot], rows: _Rows,
                                local: np.ndarray) -> np.ndarray:
    """Common paydays (``ml.paydays``) between the last attempt's local day (the first failure's
    when none is known) and each candidate's: a shortfall clears when wages land, so a retry
    with none in between meets the same balance. The tree can combine it with the weekday and
    day of month where an account's payroll calendar differs from the common one."""
    last = np.array([epoch_ns(s.last_attempt_at or s.first_failed_at) for s in snapshots]
                    or [0], dtype=np.int64)
    ones = _Rows(np.ones(len(snapshots), dtype=np.int64))
    last_day = np.floor_divide(_local_ns(last, ones, [s.timezone for s in snapshots]),
                               NS_PER_DAY)
    return paydays_between(rows.spread(last_day), np.floor_divide(local, NS_PER_DAY))


def _categorical(snapshots: list[DecisionSnapshot], rows: _Rows) -> dict[str, pd.Categorical]:
    def column(read) -> pd.Categorical:
        codes, categories = pd.factorize(np.array(
            [_category(read(s)) for s in snapshots] or [MISSING], dtype=object))
        return pd.Categorical.from_codes(rows.spread(codes.astype(np.int32)), categories)

    return {
        "decline_class": column(lambda s: s.decline_class),
        "decline_code": column(lambda s: s.decline_code),
        "advice_code": column(lambda s: s.advice_code),
        "network_decline_code": column(lambda s: s.network_decline_code),
        "network_advice_code": column(lambda s: s.network_advice_code),
        "card_brand": column(lambda s: s.card.brand),
        "card_funding": column(lambda s: s.card.funding),
        "card_country": column(lambda s: s.card.country),
        "currency": column(lambda s: s.currency.lower() if s.currency else None),
    }


def _category(value) -> str:
    return MISSING if value is None or value == "" else str(value)


def _per_snapshot(snapshots, read) -> np.ndarray:
    values = [read(s) for s in snapshots]
    return np.array([np.nan if v is None else v for v in values] or [np.nan], dtype=np.float64)


def _ns_or_nan(value: datetime | None) -> float:
    return np.nan if value is None else epoch_ns(value)


def _case_numbers(snapshots, rows: _Rows, at) -> dict[str, np.ndarray]:
    def spread(read) -> np.ndarray:
        return rows.spread(_per_snapshot(snapshots, read))

    at_f = at.astype(np.float64)
    rates = [(s.account_rates.get(s.decline_class or "", s.account_rates.get("all")),
              s.account_rates.get("all")) for s in snapshots]
    return {
        "attempt_number": spread(lambda s: s.attempt_number),
        "hours_since_first_failure":
            (at_f - spread(lambda s: _ns_or_nan(s.first_failed_at))) / NS_PER_HOUR,
        "hours_since_last_attempt":
            (at_f - spread(lambda s: _ns_or_nan(s.last_attempt_at))) / NS_PER_HOUR,
        "earlier_failures": spread(lambda s: s.history.earlier_failures),
        "earlier_recoveries": spread(lambda s: s.history.earlier_recoveries),
        "log_amount": spread(lambda s: np.log1p(max(s.amount, 0))),
        "interval_days": spread(lambda s: s.interval_days),
        "tenure_days": (at_f - spread(lambda s: _ns_or_nan(s.customer_since))) / NS_PER_DAY,
        "account_rate_class": rows.spread(_floats([r[0] for r in rates])),
        "account_rate_all": rows.spread(_floats([r[1] for r in rates])),
    }


def _floats(values: list) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values] or [np.nan], dtype=np.float64)


@dataclass(frozen=True)
class _Calendar:
    """Each row's local calendar, in whole numbers."""

    day: np.ndarray  # 1..31
    month_length: np.ndarray  # 28..31
    hour: np.ndarray  # 0..23
    month_index: np.ndarray  # months since 1970-01 (local)
    columns: dict[str, np.ndarray]


def _calendar(local: np.ndarray) -> _Calendar:
    """Each row's local calendar, read from a table of the few days the rows span."""
    days = np.floor_divide(local, NS_PER_DAY)
    hour = (local - days * NS_PER_DAY) // NS_PER_HOUR
    first = days.min() if len(days) else 0
    span = np.arange(first, (days.max() if len(days) else 0) + 1)
    year, month, day = _civil_from_days(span)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_length = MONTH_LENGTHS[month - 1] + ((month == 2) & leap)
    row_day = days - first
    columns = {
        "local_hour": hour.astype(np.float32),
        "local_weekday": ((span + 3) % 7).astype(np.float32).take(row_day),  # Monday is 0
        "local_day_of_month": day.astype(np.float32).take(row_day),
        "days_to_month_end": (month_length - day).astype(np.float32).take(row_day),
    }
    return _Calendar(day=day.take(row_day), month_length=month_length.take(row_day), hour=hour,
                     month_index=((year - 1970) * 12 + month - 1).take(row_day), columns=columns)


MONTH_LENGTHS = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def _civil_from_days(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Year, month and day of days since 1970-01-01, in integer arithmetic (H. Hinnant,
    https://howardhinnant.github.io/date_algorithms.html#civil_from_days)."""
    z = days + 719468
    era = np.floor_divide(z, 146097)
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    year = yoe + era * 400 + (month <= 2)
    return year, month, day


def _history(snapshots, rows: _Rows, at, calendar: _Calendar) -> dict[str, np.ndarray]:
    """The customer's own payment history against each candidate's local day and hour.

    Per snapshot, small tables (month length x day, hour) hold the distances to its paid days
    and hours; each row then only looks its value up."""
    paid_days = _padded([s.history.paid_days_of_month for s in snapshots])
    paid_hours = _padded([s.history.paid_hours for s in snapshots])
    owner = rows.spread(np.arange(len(snapshots), dtype=np.int64))
    if len(at) <= 4 * 31 * len(snapshots):  # few times per snapshot (training): row by row
        near_day, after_day = _day_distances(paid_days[owner], calendar.day[:, None],
                                             calendar.month_length[:, None])
        near_hour = _hour_distances(paid_hours[owner], calendar.hour[:, None])[:, 0]
    else:
        near_day, after_day = _day_tables(paid_days)
        cell = (owner * 4 + np.clip(calendar.month_length, 28, 31) - 28) * 31 \
            + np.clip(calendar.day, 1, 31) - 1
        near_day, after_day = near_day.ravel().take(cell), after_day.ravel().take(cell)
        hours = np.broadcast_to(np.arange(24, dtype=np.float32), (len(paid_hours), 24))
        near_hour = _hour_distances(paid_hours, hours).ravel().take(owner * 24 + calendar.hour)
    last_success = _per_snapshot(snapshots, lambda s: _ns_or_nan(s.history.last_success_at))
    paid_count = _per_snapshot(snapshots, lambda s: len(s.history.paid_days_of_month))
    return {
        "payday_distance_days": near_day,
        "days_since_payday": after_day,
        "paid_hour_distance": near_hour,
        "paid_count": rows.spread(paid_count),
        "days_since_last_success":
            (at.astype(np.float64) - rows.spread(last_success)) / NS_PER_DAY,
        "months_to_expiry": _months_to_expiry(snapshots, rows, calendar.month_index),
    }


def _padded(rows: list[tuple[int, ...]]) -> np.ndarray:
    """Ragged tuples as a float matrix, NaN-padded, keeping each row's latest values."""
    width = max([min(len(r), HISTORY_LIMIT) for r in rows] + [1])
    matrix = np.full((max(len(rows), 1), width), np.nan, dtype=np.float32)
    for n, values in enumerate(rows):
        kept = values[-HISTORY_LIMIT:]
        matrix[n, :len(kept)] = kept
    return matrix


FAR = np.float32(1e6)  # stands for "no such payment" inside a minimum


def _day_tables(paid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``_day_distances`` for every (month length, day): [snapshot, length - 28, day - 1]."""
    days = np.arange(1, 32, dtype=np.float32)[None, :]
    near = np.empty((paid.shape[0], 4, 31), dtype=np.float32)
    after = np.empty((paid.shape[0], 4, 31), dtype=np.float32)
    for n, length in enumerate(range(28, 32)):
        near[:, n, :], after[:, n, :] = _day_distances(paid[:, None, :], days[..., None],
                                                       np.float32(length))
    return near, after


def _day_distances(paid: np.ndarray, day, length) -> tuple[np.ndarray, np.ndarray]:
    """The circular distance in days from ``day`` to the nearest paid day, and the days since
    the latest paid day at or before it (wrapping the month); NaN with no payment yet. ``paid``
    has the paid days on its last axis (NaN-padded); ``day`` and ``length`` broadcast to it."""
    missing = np.isnan(paid)
    forward = np.mod(day - np.minimum(np.nan_to_num(paid), length), length)
    near = np.where(missing, FAR, np.minimum(forward, length - forward)).min(axis=-1)
    after = np.where(missing, FAR, forward).min(axis=-1)
    return _far_as_nan(near.astype(np.float32)), _far_as_nan(after.astype(np.float32))


def _hour_distances(paid: np.ndarray, hour: np.ndarray) -> np.ndarray:
    """The circular distance in hours from ``hour`` to the nearest paid hour (NaN: none);
    ``paid`` has the paid hours on its last axis, ``hour`` one more axis before it."""
    gap = np.abs(hour[..., None] - np.nan_to_num(paid)[..., None, :])
    circular = np.where(np.isnan(paid)[..., None, :], FAR, np.minimum(gap, 24 - gap))
    return _far_as_nan(circular.min(axis=-1).astype(np.float32))


def _far_as_nan(table: np.ndarray) -> np.ndarray:
    table[table >= FAR] = np.nan
    return table


def _months_to_expiry(snapshots, rows: _Rows, month_index) -> np.ndarray:
    # A card is good through the last day of its expiry month.
    expiry = _per_snapshot(snapshots, lambda s: (s.card.exp_year - 1970) * 12 + s.card.exp_month - 1
                           if s.card.exp_year and s.card.exp_month else None)
    return rows.spread(expiry) - month_index
