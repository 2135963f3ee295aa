"""Candidate rows: local calendar in the customer's zone, payday distances, vectorised batches."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from ml.features import (
    CATEGORICAL,
    FEATURE_COLUMNS,
    NUMERIC,
    CardFacts,
    CustomerHistory,
    DecisionSnapshot,
    candidate_frame,
    candidate_frames,
)

NOW = datetime(2026, 10, 30, 12, 0, tzinfo=UTC)


def snapshot(zone="America/New_York", paid_days=(15, 16), paid_hours=(9,), case_id=1,
             decline_class="retry") -> DecisionSnapshot:
    return DecisionSnapshot(
        account_id="acct", case_id=case_id, timezone=zone,
        first_failed_at=NOW - timedelta(hours=50), last_attempt_at=NOW - timedelta(hours=2),
        attempt_number=3, decline_class=decline_class, decline_code="insufficient_funds",
        advice_code=None, network_decline_code="51", network_advice_code=None,
        card=CardFacts("visa", "debit", "US", 1, 2027), amount=2900, currency="USD",
        interval_days=30, customer_since=NOW - timedelta(days=100),
        history=CustomerHistory(paid_days, paid_hours, NOW - timedelta(days=10), 2, 1),
        account_rates={"retry": 0.3, "all": 0.2})


def test_columns_and_types():
    frame = candidate_frame(snapshot(), [NOW, NOW + timedelta(hours=1)])
    assert tuple(frame.columns) == FEATURE_COLUMNS == CATEGORICAL + NUMERIC
    assert all(isinstance(frame[c].dtype, pd.CategoricalDtype) for c in CATEGORICAL)
    assert frame["currency"].tolist() == ["usd", "usd"]
    assert frame["advice_code"].tolist() == ["none", "none"]
    assert frame["hours_since_first_failure"].tolist() == [50, 51]
    assert frame["hours_since_last_attempt"].tolist() == [2, 3]
    assert frame["account_rate_class"].tolist() == pytest.approx([0.3, 0.3])
    assert frame["tenure_days"].iloc[0] == pytest.approx(100)
    assert frame["months_to_expiry"].iloc[0] == 3  # October 2026 to January 2027
    assert frame["log_amount"].iloc[0] == pytest.approx(np.log1p(2900), rel=1e-6)


def test_local_calendar_follows_the_zone_across_a_clock_change():
    # New York leaves daylight time on 2026-11-01: the local hour must follow it.
    times = [NOW + timedelta(hours=n) for n in range(24 * 5)]
    frame = candidate_frame(snapshot(), pd.DatetimeIndex(times))
    zone = ZoneInfo("America/New_York")
    local = [t.astimezone(zone) for t in times]
    assert frame["local_hour"].tolist() == [t.hour for t in local]
    assert frame["local_day_of_month"].tolist() == [t.day for t in local]
    assert frame["local_weekday"].tolist() == [t.weekday() for t in local]
    month_end = [(t.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
                 for t in local]
    assert frame["days_to_month_end"].tolist() == [(e.day - t.day) for e, t in
                                                   zip(month_end, local, strict=True)]


def test_payday_distances_wrap_the_month():
    at = [datetime(2026, 11, d, 17, 0, tzinfo=UTC) for d in (1, 14, 17, 30)]
    frame = candidate_frame(snapshot(zone="UTC", paid_days=(15, 16), paid_hours=(9, 23)), at)
    # November has 30 days: the 1st is 15 days from the 16th going round, 14 from the 15th.
    assert frame["payday_distance_days"].tolist() == [14, 1, 1, 14]
    assert frame["days_since_payday"].tolist() == [15, 28, 1, 14]
    assert frame["paid_hour_distance"].tolist() == [6, 6, 6, 6]
    assert frame["paid_count"].tolist() == [2, 2, 2, 2]


def test_no_history_reads_as_missing():
    frame = candidate_frame(snapshot(paid_days=(), paid_hours=()), [NOW])
    assert frame[["payday_distance_days", "days_since_payday", "paid_hour_distance"]] \
        .isna().all(axis=None)


def test_a_batch_equals_its_parts_in_order():
    first, second = snapshot(), snapshot(zone="Asia/Kolkata", paid_days=(1,), case_id=2,
                                         decline_class=None)
    times_a = [NOW + timedelta(hours=n) for n in range(5)]
    times_b = np.array([np.datetime64("2026-11-03T00:00") + np.timedelta64(n, "h")
                        for n in range(3)])
    batch = candidate_frames([(first, times_a), (second, times_b)])
    parts = pd.concat([candidate_frame(first, times_a), candidate_frame(second, times_b)],
                      ignore_index=True)
    pd.testing.assert_frame_equal(batch.astype({c: object for c in CATEGORICAL}),
                                  parts.astype({c: object for c in CATEGORICAL}))
    assert batch["decline_class"].tolist()[-1] == "none"
    assert batch["account_rate_class"].tolist()[-1] == pytest.approx(0.2)  # no class: "all"


def test_many_times_at_once_equal_one_time_at_a_time():
    """Long candidate lists read payday distances from per-snapshot tables, single rows compute
    them directly: both give the same rows."""
    times = [NOW + timedelta(hours=7 * n) for n in range(200)]
    subject = snapshot(paid_days=(3, 30, 31), paid_hours=(0, 22))
    at_once = candidate_frame(subject, times)
    one_by_one = pd.concat([candidate_frame(subject, [t]) for t in times], ignore_index=True)
    pd.testing.assert_frame_equal(at_once.astype({c: object for c in CATEGORICAL}),
                                  one_by_one.astype({c: object for c in CATEGORICAL}))


def test_paydays_since_the_last_attempt_count_local_common_paydays():
    # The last attempt was Friday 2026-10-30 06:00 in New York (a payday itself). Saturday
    # the 31st is not a payday; Sunday 1 November is (the 1st); Friday the 6th is the next.
    zone = ZoneInfo("America/New_York")
    local_days = [datetime(2026, 10, 30, 20), datetime(2026, 10, 31, 9),
                  datetime(2026, 11, 1, 9), datetime(2026, 11, 5, 23), datetime(2026, 11, 6, 9)]
    times = [day.replace(tzinfo=zone).astimezone(UTC) for day in local_days]
    frame = candidate_frame(snapshot(), times)
    assert frame["paydays_since_last_attempt"].tolist() == [0, 0, 1, 1, 2]
    # With no attempt known, the count starts from the first failure (Wednesday the 28th).
    first_only = candidate_frame(replace(snapshot(), last_attempt_at=None), times[:2])
    assert first_only["paydays_since_last_attempt"].tolist() == [1, 1]
