"""The common paydays: the calendar on which wages usually land, whatever the customer.

US pay frequencies are biweekly (most common), weekly, semimonthly (the 1st and the 15th) and
monthly (BLS, "Length of pay periods in the Current Employment Statistics survey", 2019), paid
on Fridays or on the last business day of the month. A shortfall clears when money arrives, so a
retry after an insufficient-funds decline is worth most once a payday has passed since the last
decline. Both the cold-start prior and the learned scorer's features read this calendar; the
learned scorer also sees the weekday and day of month, so it can learn an account's own payroll
calendar where it differs.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

TABLE_DAYS = 80_000  # days since 1970 the cached table covers (to the 2180s)


def is_payday(day_number: np.ndarray) -> np.ndarray:
    """Common paydays: the 1st, the 15th, the last business day of the month, and Fridays.

    ``day_number``: local calendar days since 1970-01-01."""
    day_number = np.asarray(day_number, dtype=np.int64)
    days = day_number.astype("datetime64[D]")
    month_start = days.astype("datetime64[M]").astype("datetime64[D]")
    day = (days - month_start).astype(np.int64) + 1
    weekday = (day_number + 3) % 7
    month_end = (days.astype("datetime64[M]") + 1).astype("datetime64[D]") - 1
    end_weekday = (month_end.astype(np.int64) + 3) % 7
    # A month ending on a Saturday or Sunday pays on the Friday before.
    last_business = month_end - np.where(end_weekday == 5, 1, np.where(end_weekday == 6, 2, 0))
    return (day == 1) | (day == 15) | (days == last_business) | (weekday == 4)


@lru_cache(maxsize=1)
def payday_table() -> np.ndarray:
    """``is_payday`` of every day number from 0 to ``TABLE_DAYS``."""
    return is_payday(np.arange(TABLE_DAYS))


@lru_cache(maxsize=1)
def _paydays_through() -> np.ndarray:
    """Cumulative count: entry n is the number of paydays on days 0..n-1."""
    return np.concatenate([[0], np.cumsum(payday_table(), dtype=np.int64)])


def paydays_between(after_day: np.ndarray, through_day: np.ndarray) -> np.ndarray:
    """How many common paydays fall after local day ``after_day`` up to and including
    ``through_day`` (0 when ``through_day`` is not later). Day numbers as in ``is_payday``."""
    count = _paydays_through()
    after = np.clip(np.asarray(after_day, dtype=np.int64), -1, TABLE_DAYS - 1)
    through = np.clip(np.asarray(through_day, dtype=np.int64), -1, TABLE_DAYS - 1)
    return np.maximum(count[through + 1] - count[after + 1], 0)
