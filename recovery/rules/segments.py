"""Segment rules: which cases get which retry schedule. Pure: no database, clock or I/O.

``account.policy["segments"]`` is a list of rules tried in order; the first whose every condition
holds gives the case its retry policy, the account's with the segment's overrides::

    {"segments": [{"name": "annual plans", "match": {"plan_interval": "year"},
                   "policy": {"offsets_days": [1, 2, 3, 5, 8, 13], "max_retries": 6}}]}

Conditions of ``match`` (each optional: one left out holds for every case, and one whose fact is
unknown holds for none):

- ``amount_min``, ``amount_max``: the invoice's amount in minor units, bounds included;
  ``currency``: the amounts' currency (another currency's invoice does not match);
- ``plan_interval``: day, week, month, quarter or year (the invoice period's length in days);
- ``country``, ``card_funding``: the card's issuing countries and funding kinds, as the latest
  attempt on the invoice reported them;
- ``decline_class``: the latest decline's classes;
- ``tenure_days_min``: days since the customer signed up. The engine does not store that date,
  so for the cases it plans the tenure is unknown and a segment with this condition never matches;
- ``earlier_failures_min``: the customer's failed invoices (cases) before this one.

A segment overrides only the fields that shape the schedule (``SEGMENT_FIELDS``). The window,
quiet hours, network budget, ownership and end of dunning stay the account's: the actions and the
messages read those by account, and a case must see one window wherever it is read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

from recovery.rules.decline_codes import DeclineClass
from recovery.rules.policy import RetryPolicy
from recovery.rules.problems import FieldProblem, path, refuse, under
from recovery.rules.retry_fields import retry_field_problems, whole

SEGMENT_FIELDS = ("offsets_days", "max_retries", "local_hour", "timing", "exploration")
PLAN_INTERVALS = {"day": range(1, 2), "week": range(7, 8), "month": range(28, 32),
                  "quarter": range(89, 93), "year": range(365, 367)}
FUNDINGS = ("credit", "debit", "prepaid", "unknown")
DECLINE_CLASSES = tuple(c.value for c in DeclineClass)
MAX_SEGMENTS = 50
MAX_NAME_LENGTH = 100
SEGMENT_KEYS = ("name", "match", "policy")


@dataclass(frozen=True)
class CaseFacts:
    """What segment rules know about one case."""

    amount: int  # minor units
    currency: str
    plan_interval_days: int | None = None
    card_country: str | None = None
    card_funding: str | None = None
    decline_class: str | None = None
    tenure_days: int | None = None  # None: unknown, so no tenure condition holds
    earlier_failures: int = 0


@dataclass(frozen=True)
class SegmentMatch:
    amount_min: int | None = None
    amount_max: int | None = None
    currency: str | None = None
    plan_interval: str | None = None
    country: tuple[str, ...] = ()
    card_funding: tuple[str, ...] = ()
    decline_class: tuple[str, ...] = ()
    tenure_days_min: int | None = None
    earlier_failures_min: int | None = None

    def holds(self, facts: CaseFacts) -> bool:
        return all(check(self, facts) for check in CHECKS)

    def to_dict(self) -> dict:
        values = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value != f.default:
                values[f.name] = list(value) if isinstance(value, tuple) else value
        return values


@dataclass(frozen=True)
class Segment:
    name: str
    match: SegmentMatch
    overrides: Mapping[str, Any]  # the segment's own values of SEGMENT_FIELDS
    policy: RetryPolicy  # the account's policy with the overrides

    def to_dict(self) -> dict:
        overrides = dict(self.overrides)
        if "offsets_days" in overrides:
            overrides["offsets_days"] = [float(day) for day in overrides["offsets_days"]]
        return {"name": self.name, "match": self.match.to_dict(), "policy": overrides}


@dataclass(frozen=True)
class SegmentedPolicy:
    """The account's retry policy and its segments: the policy each case is planned with."""

    base: RetryPolicy
    segments: tuple[Segment, ...] = ()

    @classmethod
    def from_document(cls, document: Mapping | None) -> SegmentedPolicy:
        """The retry fields and ``segments`` of a policy document; ``PolicyError`` names every
        wrong field of both."""
        base = RetryPolicy.from_dict(document)
        segments, problems = parse_segments((document or {}).get("segments"), base)
        refuse("invalid policy", problems)
        return cls(base, segments)

    def for_case(self, facts: CaseFacts) -> tuple[RetryPolicy, Segment | None]:
        """The first matching segment's policy, else the account's."""
        for segment in self.segments:
            if segment.match.holds(facts):
                return segment.policy, segment
        return self.base, None

    @property
    def uses_smart_timing(self) -> bool:
        return any(p.timing == "smart" for p in (self.base, *(s.policy for s in self.segments)))


def parse_segments(raw: Any, base: RetryPolicy | None
                   ) -> tuple[tuple[Segment, ...], list[FieldProblem]]:
    """The segments ``raw`` lists, or every problem with them (paths from ``segments``).
    ``base``: the account's policy the overrides apply to (None: it is invalid, and the
    overrides are checked against the defaults so its problems are not repeated here)."""
    if raw is None:
        return (), []
    if isinstance(raw, str | bytes) or not isinstance(raw, Sequence):
        return (), [FieldProblem("segments", "must be a list of segments")]
    problems = []
    if len(raw) > MAX_SEGMENTS:
        problems.append(FieldProblem("segments", f"must list at most {MAX_SEGMENTS} segments"))
    made, names = [], set()
    for index, item in enumerate(raw):
        segment, found = _segment(item, base or RetryPolicy())
        where = path("segments", index)
        problems += under(where, found)
        if segment is not None and segment.name in names:
            problems.append(FieldProblem(path(where, "name"), "repeats another segment's name"))
        if segment is not None:
            names.add(segment.name)
            made.append(segment)
    return (tuple(made), problems) if not problems else ((), problems)


def _segment(item: Any, base: RetryPolicy) -> tuple[Segment | None, list[FieldProblem]]:
    if not isinstance(item, Mapping):
        return None, [FieldProblem("", "must be an object with name, match and policy")]
    problems = [FieldProblem(str(key), "is an unknown field") for key in item
                if key not in SEGMENT_KEYS]
    name = item.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_LENGTH:
        problems.append(FieldProblem("name", f"must be a non-empty text of at most "
                                             f"{MAX_NAME_LENGTH} characters"))
    match, match_problems = _match(item.get("match", {}))
    overrides, policy, policy_problems = _overrides(item.get("policy"), base, name)
    problems += under("match", match_problems) + under("policy", policy_problems)
    if problems:
        return None, problems
    return Segment(name, match, overrides, policy), []


def _overrides(raw: Any, base: RetryPolicy, name: Any
               ) -> tuple[dict, RetryPolicy | None, list[FieldProblem]]:
    if not isinstance(raw, Mapping):
        return {}, None, [FieldProblem("", "must be an object of retry policy fields")]
    problems = []
    for key in raw:
        if key in SEGMENT_FIELDS:
            continue
        why = "is the account's for every case" if key in RetryPolicy.__dataclass_fields__ \
            else "is an unknown field"
        problems.append(FieldProblem(str(key), f"{why}; a segment may set "
                                               f"{', '.join(SEGMENT_FIELDS)}"))
    overrides = {key: value for key, value in raw.items() if key in SEGMENT_FIELDS}
    merged = {**vars(base), **overrides}
    problems += retry_field_problems(merged)
    if problems:
        return overrides, None, problems
    if "offsets_days" in overrides:
        merged["offsets_days"] = tuple(float(day) for day in overrides["offsets_days"])
    return overrides, replace(base, **{**merged, "name": str(name)}), []


MATCH_FIELDS = tuple(f.name for f in fields(SegmentMatch))
LISTS = {"country": None, "card_funding": FUNDINGS, "decline_class": DECLINE_CLASSES}


def _match(raw: Any) -> tuple[SegmentMatch, list[FieldProblem]]:
    if not isinstance(raw, Mapping):
        return SegmentMatch(), [FieldProblem("", "must be an object of conditions")]
    problems = [FieldProblem(str(key), "is an unknown condition") for key in raw
                if key not in MATCH_FIELDS]
    values = {key: value for key, value in raw.items() if key in MATCH_FIELDS}
    for name in ("amount_min", "amount_max", "tenure_days_min", "earlier_failures_min"):
        value = values.get(name)
        if value is not None and (not whole(value) or value < 0):
            problems.append(FieldProblem(name, "must be a whole number of at least 0"))
    low, high = values.get("amount_min"), values.get("amount_max")
    if whole(low) and whole(high) and low > high:
        problems.append(FieldProblem("amount_min", "must not be above amount_max"))
    currency = values.get("currency")
    if currency is not None and (not isinstance(currency, str) or len(currency) != 3):
        problems.append(FieldProblem("currency", "must be an ISO 4217 code such as 'usd'"))
    interval = values.get("plan_interval")
    if interval is not None and interval not in PLAN_INTERVALS:
        problems.append(FieldProblem("plan_interval", f"must be one of {list(PLAN_INTERVALS)}"))
    for name, allowed in LISTS.items():
        if name in values:
            problems += _list_problems(name, values[name], allowed)
    if problems:
        return SegmentMatch(), problems
    for name in LISTS:
        if name in values:
            values[name] = tuple(values[name])
    if "country" in values:
        values["country"] = tuple(code.upper() for code in values["country"])
    if currency is not None:
        values["currency"] = currency.lower()
    return SegmentMatch(**values), []


def _list_problems(name: str, value: Any, allowed: Sequence[str] | None) -> list[FieldProblem]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence) or not value:
        return [FieldProblem(name, "must be a non-empty list")]
    problems = []
    for index, item in enumerate(value):
        if allowed is None:
            if not isinstance(item, str) or len(item) != 2 or not item.isalpha():
                problems.append(FieldProblem(path(name, index),
                                             "must be a two-letter country code such as 'US'"))
        elif item not in allowed:
            problems.append(FieldProblem(path(name, index), f"must be one of {list(allowed)}"))
    return problems


# Conditions: each holds when the segment leaves it unset, and fails on an unknown fact.

def _amount(match: SegmentMatch, facts: CaseFacts) -> bool:
    if match.amount_min is None and match.amount_max is None:
        return True
    if match.currency is not None and facts.currency.lower() != match.currency:
        return False
    return (match.amount_min is None or facts.amount >= match.amount_min) and \
        (match.amount_max is None or facts.amount <= match.amount_max)


def _interval(match: SegmentMatch, facts: CaseFacts) -> bool:
    if match.plan_interval is None:
        return True
    days = facts.plan_interval_days
    return days is not None and days in PLAN_INTERVALS[match.plan_interval]


def _card(match: SegmentMatch, facts: CaseFacts) -> bool:
    country = (facts.card_country or "").upper()
    return (not match.country or country in match.country) and \
        (not match.card_funding or facts.card_funding in match.card_funding)


def _decline(match: SegmentMatch, facts: CaseFacts) -> bool:
    return not match.decline_class or facts.decline_class in match.decline_class


def _customer(match: SegmentMatch, facts: CaseFacts) -> bool:
    tenure_ok = match.tenure_days_min is None or (
        facts.tenure_days is not None and facts.tenure_days >= match.tenure_days_min)
    failures = match.earlier_failures_min
    return tenure_ok and (failures is None or facts.earlier_failures >= failures)


CHECKS = (_amount, _interval, _card, _decline, _customer)
