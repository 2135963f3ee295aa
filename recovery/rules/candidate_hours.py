"""The whole hours a smart retry may use: every hour from ``start`` to the window's end that quiet
hours, Stripe's own slot (coexist mode) and the card's network budget all allow. Pure.

Each hour is judged by the same rules as a fixed retry (``policy._first_allowed``): quiet hours
and Stripe's slot as numpy masks, the network budget through ``network_rules``. For a card whose
recorded attempts all lie before the earliest allowed time, every card rule refuses only *until*
some time (a wait, the spacing, the 30-day cap as attempts age out): so every hour from that
earliest time on is allowed, and one ``earliest_allowed`` call judges them all. Otherwise (a bank
debit, whose budget also ends, or an attempt recorded later than that) each hour is checked.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

from recovery.rules.local_time import epoch_hours, from_epoch_hour, local_calendar, quiet_mask
from recovery.rules.network_rules import CARD, check_attempt, earliest_allowed, kind_of

if TYPE_CHECKING:
    from recovery.rules.policy import RetryContext, RetryPolicy

# Coexist mode never places an engine attempt this close to Stripe's own next attempt.
STRIPE_ATTEMPT_MARGIN = timedelta(hours=6)


def smart_candidates(policy: RetryPolicy, ctx: RetryContext, start: datetime,
                     window_end: datetime) -> np.ndarray:
    """Allowed whole hours in [start, window_end], as hours since the epoch (int64)."""
    first = math.ceil(epoch_hours(start) - 1e-9)
    last = math.floor(epoch_hours(window_end) + 1e-9)
    if last < first:
        return np.zeros(0, dtype=np.int64)
    hours = np.arange(first, last + 1, dtype=np.int64)
    calendar = local_calendar(ctx.timezone, hours.astype(np.float64))
    keep = ~quiet_mask(calendar.hour, policy.quiet_start_hour, policy.quiet_end_hour)
    keep &= _away_from_stripe(hours, policy, ctx)
    keep &= _network_allows(hours, policy, ctx, start)
    return hours[keep]


def _away_from_stripe(hours: np.ndarray, policy: RetryPolicy, ctx: RetryContext) -> np.ndarray:
    stripe_at = ctx.stripe_next_attempt
    if policy.ownership != "coexist" or stripe_at is None:
        return np.ones(hours.shape, dtype=bool)
    margin = STRIPE_ATTEMPT_MARGIN / timedelta(hours=1)
    return np.abs(hours - epoch_hours(stripe_at)) >= margin


def _network_allows(hours: np.ndarray, policy: RetryPolicy, ctx: RetryContext,
                    start: datetime) -> np.ndarray:
    key, limits, kind = ctx.card_fingerprint, policy.limits, ctx.payment_method_kind
    earliest = earliest_allowed(key, ctx.card_brand, start, ctx.history, limits, kind)
    if earliest is None:
        return np.zeros(hours.shape, dtype=bool)
    from_earliest = hours >= epoch_hours(earliest) - 1e-9
    records = [r for r in ctx.history if r.card_fingerprint == key]
    if (kind or kind_of(key, records)) == CARD and all(r.at <= earliest for r in records):
        return from_earliest
    allowed = np.zeros(hours.shape, dtype=bool)
    for i in np.flatnonzero(from_earliest):
        at = from_epoch_hour(hours[i])
        allowed[i] = check_attempt(key, ctx.card_brand, at, records, limits, kind).allowed
    return allowed
