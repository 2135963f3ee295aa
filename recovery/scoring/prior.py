"""The cold-start chance that a retry succeeds: decline-aware, hand-set, never fitted.

Used for an account until it has enough attempts of its own and a promoted artifact. Every
number is set from the domain reference (shared/reference/stripe-and-card-networks.md, sections
1.3 and 2) and published retry guidance, not from any simulation:

- Transient issuer trouble (``processing_error``, ``issuer_not_available``,
  ``reenter_transaction``, ``try_again_later``, ``approve_with_id``): "RETRY (soon)", "short delay,
  hours" (reference 1.3): a high chance that fades as the failure ages.
- Funds (``insufficient_funds``, ``card_velocity_exceeded``, ``withdrawal_count_limit_exceeded``):
  "RETRY (time for payday)" (reference 1.3); Mastercard's NSF advice codes ask for waits of one to
  ten days (reference 2). A low chance the first day, highest on and just after paydays: US pay
  frequencies are biweekly (most common), weekly, semimonthly (1st and 15th) and monthly (BLS,
  "Length of pay periods in the Current Employment Statistics survey", 2019), paid on Fridays or
  on the last business day; deposits post overnight, so mornings come first.
- Weak soft declines (``do_not_honor``, ``generic_decline``, ``call_issuer``, unknown codes):
  "RETRY-L: at most about 2-3 attempts" (reference 1.3): a low chance, mildly payday-shaped.
- A shortfall clears when money arrives: until a common payday has passed since the last
  decline, a retry after a funds or weak soft decline meets the same balance (reference 1.3,
  "time for payday"; Mastercard's NSF advice codes 24-30 wait one hour to ten days), so its
  chance is cut then. This is what spaces the prior's attempts from payday to payday instead of
  spending them on consecutive days.
- Each attempt already made lowers the next one's chance (Stripe stops Visa retries judged
  unlikely after repeated declines, reference 2), and a customer's own earlier payment days, when
  known, are their paydays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from ml.paydays import payday_table, paydays_between
from recovery.rules.decline_codes import DeclineClass
from recovery.rules.local_time import epoch_hours, local_calendar

TRANSIENT_CODES = frozenset({"processing_error", "issuer_not_available", "reenter_transaction",
                             "try_again_later", "approve_with_id"})
FUNDS_CODES = frozenset({"insufficient_funds", "card_velocity_exceeded",
                         "withdrawal_count_limit_exceeded"})
# Chance of one attempt at a neutral hour, by kind of decline.
BASE_CHANCE = {"transient": 0.45, "funds": 0.14, "weak": 0.07, "soft": 0.10}
# Multiplier of the chance on a payday, the day after and two days after, by kind of decline.
PAYDAY_LIFT = {"transient": (1.0, 1.0, 1.0), "funds": (1.9, 1.5, 1.2), "weak": (1.3, 1.2, 1.1),
               "soft": (1.4, 1.25, 1.1)}
ATTEMPT_FATIGUE = 0.85  # per attempt already made on the invoice after the first
OWN_PAYDAY_LIFT = 1.4  # on (or the day after) a day of month the customer paid on before
# Multiplier of the chance while no common payday has passed since the last decline, by kind.
NO_DEPOSIT_YET = {"transient": 1.0, "funds": 0.35, "weak": 0.7, "soft": 0.6}


@dataclass(frozen=True)
class PriorInputs:
    decline_code: str | None
    decline_class: str | None
    first_failed_at: datetime
    timezone: str
    attempt_number: int  # attempts on this invoice so far + 1
    paid_days_of_month: Sequence[int] = field(default_factory=tuple)
    last_attempt_at: datetime | None = None  # the latest decline; None: the first failure


@dataclass(frozen=True)
class PriorCurve:
    chances: np.ndarray
    factors: dict[str, np.ndarray]  # each multiplicative factor, for explanations


def decline_kind(code: str | None, decline_class: str | None) -> str:
    if code in TRANSIENT_CODES:
        return "transient"
    if code in FUNDS_CODES:
        return "funds"
    if decline_class == DeclineClass.RETRY_LIMITED.value or code is None:
        return "weak"
    return "soft"


def prior_chances(inputs: PriorInputs, hours: np.ndarray) -> PriorCurve:
    """The prior chance of success at each candidate (whole hours since the epoch)."""
    hours = np.asarray(hours, dtype=np.float64)
    kind = decline_kind(inputs.decline_code, inputs.decline_class)
    calendar = local_calendar(inputs.timezone, hours)
    since = hours - epoch_hours(inputs.first_failed_at)
    factors = {
        "decline": np.full(hours.shape, BASE_CHANCE[kind]),
        "hours since failure": _age_factor(kind, since),
        "payday": _payday_factor(kind, calendar.day_number),
        "local hour": _hour_factor(calendar.hour),
        "attempt number": np.full(hours.shape,
                                  ATTEMPT_FATIGUE ** max(inputs.attempt_number - 2, 0)),
        "own pay days": _own_payday_factor(calendar.day, inputs.paid_days_of_month),
        "payday since last decline": _deposit_factor(
            kind, inputs.last_attempt_at or inputs.first_failed_at, inputs.timezone,
            calendar.day_number),
    }
    chances = np.prod(np.vstack(list(factors.values())), axis=0)
    return PriorCurve(np.clip(chances, 0.001, 0.95), factors)


def _age_factor(kind: str, since_hours: np.ndarray) -> np.ndarray:
    days = since_hours / 24.0
    if kind == "transient":
        return np.where(days < 3, 1.0, 0.8)  # issuer trouble clears in hours or not at all
    # Funds rarely arrive the same day; after a fortnight a shortfall is less likely to clear.
    return np.where(days < 1, 0.6, np.where(days > 14, 0.85, 1.0))


# Deposits post overnight: mornings first, late evenings last (by local hour 0-23).
HOUR_FACTOR = np.array([0.9] * 6 + [1.15] * 5 + [1.0] * 6 + [0.95] * 4 + [0.9] * 3)


def _hour_factor(local_hour: np.ndarray) -> np.ndarray:
    return HOUR_FACTOR[local_hour]


def _payday_factor(kind: str, day_number: np.ndarray) -> np.ndarray:
    table = payday_table()
    lift = np.ones(day_number.shape)
    for days_after, factor in enumerate(PAYDAY_LIFT[kind]):
        if factor != 1.0:
            lift = np.maximum(lift, np.where(table[day_number - days_after], factor, 1.0))
    return lift


def _deposit_factor(kind: str, last_decline: datetime, timezone: str,
                    day_number: np.ndarray) -> np.ndarray:
    if NO_DEPOSIT_YET[kind] == 1.0:
        return np.ones(day_number.shape)
    last_day = local_calendar(timezone, np.array([epoch_hours(last_decline)])).day_number[0]
    crossed = paydays_between(last_day, day_number) > 0
    return np.where(crossed, 1.0, NO_DEPOSIT_YET[kind])


def _own_payday_factor(day: np.ndarray, paid_days: Sequence[int]) -> np.ndarray:
    if not paid_days:
        return np.ones(day.shape)
    mask = sum(1 << int(d) for d in set(paid_days) if 1 <= int(d) <= 31)
    on_or_after = ((mask >> day) & 1) | ((mask >> (day - 1)) & 1)
    return np.where(on_or_after == 1, OWN_PAYDAY_LIFT, 1.0)
