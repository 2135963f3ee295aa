"""What makes each field of a retry policy valid: every problem of a set of field values, each
naming its field, so a policy with several wrong fields is refused with all of them. Pure.

Works on plain values (a mapping of field name to value) rather than on ``RetryPolicy``, so the
same checks serve a policy built in code, one read from JSON and a segment's overrides merged
over the account's policy.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

from recovery.rules.network_rules import BRAND_CAPS
from recovery.rules.problems import FieldProblem, path

OWNERSHIP_MODES = ("exclusive", "coexist")
SUBSCRIPTION_ENDINGS = ("cancel", "past_due", "pause")
INVOICE_ENDINGS = ("open", "uncollectible", "void")
TIMINGS = ("fixed", "smart")
MAX_EXPLORATION = 0.5  # above this, exploring would cost more recoveries than it teaches
MAX_RETRIES = 30
MAX_WINDOW_DAYS = 90
MAX_NAME_LENGTH = 100
MAX_SPACING_HOURS = 24 * 30  # a longer spacing would allow one attempt in a window
MAX_CARD_UPDATE_MINUTES = 24 * 60
CHOICES = {"ownership": OWNERSHIP_MODES, "end_subscription": SUBSCRIPTION_ENDINGS,
           "end_invoice": INVOICE_ENDINGS}


def whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def number(value: Any) -> bool:
    """A finite int or float (a bool is not a number here, though Python says it is)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return isinstance(value, int) or math.isfinite(value)


def retry_field_problems(values: Mapping[str, Any]) -> list[FieldProblem]:
    """Every problem of a complete set of retry policy fields (defaults filled in)."""
    problems = list(_offsets_problems(values))
    problems += _whole_problems(values)
    problems += _choice_problems(values)
    name = values["name"]
    if not isinstance(name, str) or len(name) > MAX_NAME_LENGTH:
        problems.append(FieldProblem("name", f"must be a text of at most {MAX_NAME_LENGTH} "
                                             "characters"))
    spacing = values["min_hours_between_attempts"]
    if not number(spacing) or not 0 <= spacing <= MAX_SPACING_HOURS:
        problems.append(FieldProblem("min_hours_between_attempts",
                                     f"must be a number of hours from 0 to {MAX_SPACING_HOURS}"))
    exploration = values["exploration"]
    if not number(exploration) or not 0 <= exploration <= MAX_EXPLORATION:
        problems.append(FieldProblem("exploration",
                                     f"must be a share between 0 and {MAX_EXPLORATION}"))
    return problems


def _whole_problems(values: Mapping[str, Any]) -> Iterator[FieldProblem]:
    strictest = min(BRAND_CAPS.values())
    ranges = {"max_retries": (0, MAX_RETRIES, ""), "window_days": (1, MAX_WINDOW_DAYS, ""),
              "quiet_start_hour": (0, 23, " (a whole hour)"),
              "quiet_end_hour": (0, 23, " (a whole hour)"),
              "max_attempts_per_30_days": (1, strictest, " (the strictest network cap: "
                                           f"{dict(BRAND_CAPS)})"),
              "card_update_retry_minutes": (0, MAX_CARD_UPDATE_MINUTES, "")}
    if values["local_hour"] is not None:
        ranges["local_hour"] = (0, 23, " (a whole hour), or null")
    for name, (low, high, why) in ranges.items():
        value = values[name]
        if not whole(value) or not low <= value <= high:
            yield FieldProblem(name, f"must be a whole number from {low} to {high}{why}")


def _choice_problems(values: Mapping[str, Any]) -> Iterator[FieldProblem]:
    for name, allowed in CHOICES.items():
        if values[name] not in allowed:
            yield FieldProblem(name, f"must be one of {list(allowed)}, not {values[name]!r}")
    if values["timing"] not in TIMINGS:
        yield FieldProblem("timing", f"must be 'fixed' or 'smart', not {values['timing']!r}")


def _offsets_problems(values: Mapping[str, Any]) -> Iterator[FieldProblem]:
    offsets = values["offsets_days"]
    if isinstance(offsets, str | bytes) or not isinstance(offsets, list | tuple):
        yield FieldProblem("offsets_days", "must be a list of days after the first failure")
        return
    if len(offsets) > MAX_RETRIES:
        yield FieldProblem("offsets_days", f"must list at most {MAX_RETRIES} retries")
    wrong = [n for n, day in enumerate(offsets) if not number(day) or day <= 0]
    for n in wrong:
        yield FieldProblem(path("offsets_days", n), "must be a positive number of days")
    if wrong:
        return
    if list(offsets) != sorted(offsets):
        yield FieldProblem("offsets_days", "must increase")
    window = values["window_days"]
    if offsets and whole(window) and max(offsets) > window:
        yield FieldProblem("offsets_days", "must all fall inside window_days")
