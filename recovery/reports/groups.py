"""What a recovery rate can be grouped by, and each group's key as SQL over one cohort case.

- ``week``: the Monday (UTC) of the week of the case's first failure, ``YYYY-MM-DD``.
- ``decline_class``, ``card_brand``, ``country``: of the case's first failed attempt, the decline
  that opened the case (not its latest one); ``unknown`` when it has none.

The per-case keys (first failure, paying attempt, last channel) are the case's tallies, which
the engine keeps on the case as attempts and messages are recorded
(``recovery/engine/case_tallies.py``), so a report reads them off the cohort's cases alone.
- ``policy``: ``recovery_case.policy_version`` (``default`` when NULL); ``experiment_arm``: the
  case's arm (``none`` when NULL).
- ``attempt_number``: the attempt that recovered the case (1 is the charge that first failed, 2
  the first retry, ...), counting Stripe's and the engine's attempts up to its first successful
  one; ``none`` for a case recovered without a successful charge on record (the customer paid
  another way). Only recovered cases have one, so each row's denominator is the whole cohort and
  the rows add up to the overall rate (see ``recovery_rates``).
- ``segment``: the plan's billing interval (``monthly``: 28-31 days, ``yearly``: 365-366 days,
  ``other``: anything else or unknown) and the invoice's amount band in major units of its
  currency (``<10``, ``10-50``, ``50-200``, ``200+``), e.g. ``monthly 10-50``.
- ``channel``: the channel of the last message sent on the case while it was open (no later
  than its close): for a recovered case, the message that preceded the recovery. ``none`` when
  no message was sent while it was open.
- ``currency``: the case's currency (each row's amounts are in its own currency).
"""

from __future__ import annotations

import enum

from sqlalchemy import ColumnElement, String, case, cast, func, literal

from models import RecoveryCase
from recovery.reports.cohort import UNKNOWN, Period
from recovery.reports.dialect import week_start


class Grouping(enum.StrEnum):
    week = "week"
    decline_class = "decline_class"
    card_brand = "card_brand"
    country = "country"
    policy = "policy"
    experiment_arm = "experiment_arm"
    attempt_number = "attempt_number"
    segment = "segment"
    channel = "channel"
    currency = "currency"


# Amount bands: upper bounds in minor units (exclusive), and the last band's label.
AMOUNT_BANDS = ((1_000, "<10"), (5_000, "10-50"), (20_000, "50-200"))
TOP_BAND = "200+"
MONTHLY_DAYS = (28, 31)
YEARLY_DAYS = (365, 366)


def group_key(by: Grouping, period: Period) -> ColumnElement[str]:
    """The group a cohort case falls in (not for ``attempt_number``: see ``recovery_rates``)."""
    keys = {
        Grouping.week: lambda: week_start(RecoveryCase.first_failed_at),
        Grouping.decline_class: lambda: _or_unknown(RecoveryCase.first_decline_class),
        Grouping.card_brand: lambda: _or_unknown(RecoveryCase.first_card_brand),
        Grouping.country: lambda: _or_unknown(RecoveryCase.first_card_country),
        Grouping.policy: lambda: func.coalesce(cast(RecoveryCase.policy_version, String),
                                               "default"),
        Grouping.experiment_arm: lambda: func.coalesce(RecoveryCase.experiment_arm, "none"),
        Grouping.segment: _segment,
        Grouping.channel: lambda: func.coalesce(RecoveryCase.last_message_channel, "none"),
        Grouping.currency: lambda: RecoveryCase.currency,
    }
    return keys[by]()


def _or_unknown(value: ColumnElement) -> ColumnElement[str]:
    return func.coalesce(value, UNKNOWN)


def _segment() -> ColumnElement[str]:
    days = RecoveryCase.plan_interval_days
    interval = case((days.between(*MONTHLY_DAYS), "monthly"),
                    (days.between(*YEARLY_DAYS), "yearly"), else_="other")
    band = case(*((RecoveryCase.amount_due < bound, label) for bound, label in AMOUNT_BANDS),
                else_=TOP_BAND)
    return interval + literal(" ") + band
