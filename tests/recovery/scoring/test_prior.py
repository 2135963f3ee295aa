"""The cold-start prior's shape: paydays and mornings for funds, early hours for outages."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from ml.paydays import is_payday
from recovery.rules.local_time import epoch_hours
from recovery.scoring.prior import PriorInputs, prior_chances

FAILED = datetime(2026, 11, 3, 15, 0, tzinfo=UTC)  # a Tuesday
HOURS = np.arange(int(epoch_hours(FAILED)) + 1, int(epoch_hours(FAILED)) + 24 * 20)


def inputs(code: str, **changes) -> PriorInputs:
    values = dict(decline_code=code, decline_class="retry", first_failed_at=FAILED,
                  timezone="America/New_York", attempt_number=2)
    values.update(changes)
    return PriorInputs(**values)


def test_paydays_are_the_first_fifteenth_last_business_day_and_fridays():
    days = np.array([np.datetime64(d, "D").astype(np.int64) for d in
                     ["2026-11-01", "2026-11-13", "2026-11-15", "2026-11-30", "2026-11-10",
                      "2026-10-30"]])
    # Nov 30 2026 is a Monday (last business day); Oct 30 a Friday and the last business day.
    assert is_payday(days).tolist() == [True, True, True, True, False, True]


def test_insufficient_funds_peaks_on_a_payday_morning():
    curve = prior_chances(inputs("insufficient_funds"), HOURS)
    best = datetime.fromtimestamp(int(HOURS[np.argmax(curve.chances)]) * 3600, UTC)
    local = best.astimezone(__import__("zoneinfo").ZoneInfo("America/New_York"))
    assert is_payday(np.array([np.datetime64(local.date(), "D").astype(np.int64)]))[0]
    assert 6 <= local.hour < 11


def test_issuer_trouble_is_likeliest_soon_and_fatigue_lowers_later_attempts():
    outage = prior_chances(inputs("issuer_not_available"), HOURS).chances
    assert outage[:48].mean() > outage[-48:].mean()
    first = prior_chances(inputs("do_not_honor", decline_class="retry_limited"), HOURS).chances
    fourth = prior_chances(inputs("do_not_honor", decline_class="retry_limited",
                                  attempt_number=5), HOURS).chances
    assert (fourth < first).all()


def test_a_customers_own_pay_days_lift_those_days():
    plain = prior_chances(inputs("insufficient_funds"), HOURS)
    own = prior_chances(inputs("insufficient_funds", paid_days_of_month=(10,)), HOURS)
    lifted = own.chances > plain.chances
    assert lifted.any() and (own.factors["own pay days"][lifted] > 1).all()


def test_after_a_funds_decline_the_days_before_the_next_payday_are_cut():
    # Last decline on Tuesday 2026-11-10 at 09:00 New York; the next common payday is Friday 13.
    declined = datetime(2026, 11, 10, 14, 0, tzinfo=UTC)
    hours = np.arange(int(epoch_hours(declined)) + 1, int(epoch_hours(declined)) + 24 * 6)
    curve = prior_chances(inputs("insufficient_funds", last_attempt_at=declined), hours)
    factor = curve.factors["payday since last decline"]
    local_days = [datetime.fromtimestamp(int(h) * 3600, UTC).astimezone(
        __import__("zoneinfo").ZoneInfo("America/New_York")).day for h in hours]
    before = np.array([day < 13 for day in local_days])
    assert (factor[before] < 1).all() and (factor[~before] == 1).all()
    # The best hour is on or after the payday, not the next morning.
    assert local_days[int(np.argmax(curve.chances))] >= 13


def test_issuer_trouble_does_not_wait_for_a_payday():
    declined = datetime(2026, 11, 10, 14, 0, tzinfo=UTC)
    curve = prior_chances(inputs("issuer_not_available", last_attempt_at=declined), HOURS)
    assert (curve.factors["payday since last decline"] == 1).all()
