"""Which churn-prevention offer a customer gets: the account's offer rules as validated data, and
the pure choice of the first rule whose segment matches. No database, clock or I/O.

An account's rules live in ``account.policy["offers"]``::

    {"rules": [
        {"kind": "pause", "months": 2, "plan_interval": "year", "in_messages": ["final_notice"]},
        {"kind": "discount", "percent_off": 25, "months": 3, "plan_interval": "month",
         "max_earlier_failures": 2, "in_messages": ["final_notice"]}]}

Rules are tried in order; every segment condition a rule sets must hold (a condition left out
holds for everyone), and the first rule that matches is the offer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

from recovery.errors import PolicyError
from recovery.rules.decline_codes import DeclineClass
from recovery.rules.problems import FieldProblem, path, problems_of, refuse, under

KINDS = ("discount", "pause")
MESSAGE_KINDS = ("reminder", "final_notice")  # the messages an offer may ride in
# A plan interval by name, as the invoice's period length in days (months and years vary).
PLAN_INTERVALS = {"month": range(28, 32), "year": range(365, 367)}
MAX_MONTHS = {"discount": 24, "pause": 6}  # longer is no longer a retention offer
TITLE = "invalid offers policy"
REQUIRED = ("kind", "months")


@dataclass(frozen=True)
class Segment:
    """What the rules know about the customer whose case would carry the offer."""

    amount: int  # the failed invoice's amount, minor units
    currency: str
    plan_interval_days: int | None = None
    tenure_days: int | None = None  # None: unknown, so no tenure condition holds
    earlier_failures: int = 0  # the customer's earlier failed invoices (cases)
    decline_class: str | None = None


@dataclass(frozen=True)
class OfferRule:
    kind: str  # discount | pause
    months: int
    percent_off: int = 0  # discounts: 1-100; a pause gives everything up for its months
    # The segment: each condition left as None holds for every customer.
    min_amount: int | None = None
    max_amount: int | None = None
    currency: str | None = None  # the amounts' currency, when they are set
    plan_interval: str | None = None  # month | year
    min_tenure_days: int | None = None
    max_earlier_failures: int | None = None
    decline_classes: tuple[str, ...] = ()  # empty: any decline
    in_messages: tuple[str, ...] = MESSAGE_KINDS

    def __post_init__(self) -> None:
        refuse("invalid offer rule", rule_problems(self))

    def matches(self, segment: Segment, message_kind: str) -> bool:
        return message_kind in self.in_messages and all(
            check(self, segment) for check in SEGMENT_CHECKS)

    @classmethod
    def from_mapping(cls, data: Mapping, where: str = "") -> OfferRule:
        """The rule ``data`` describes; one ``PolicyError`` names every wrong field, each under
        ``where`` (the rule's path in the policy)."""
        if not isinstance(data, Mapping):
            refuse(TITLE, [FieldProblem(where, "must be a mapping")])
        known = {f.name for f in fields(cls)}
        problems = [FieldProblem(str(key), "is an unknown field") for key in data
                    if key not in known]
        problems += [FieldProblem(name, "is required") for name in REQUIRED if name not in data]
        values = {key: value for key, value in data.items() if key in known}
        for name in ("decline_classes", "in_messages"):
            if name in values:
                values[name] = _as_tuple(values[name])
        # Validate before construction, so the error names the rule and each bad field; a
        # missing field is named once, as missing.
        problems += [problem for problem in rule_problems(_Unchecked(**{
            **_defaults(), **dict.fromkeys(REQUIRED), **values})) if problem.loc[0] in values
            or problem.loc[0] not in REQUIRED]
        refuse(TITLE, under(where, problems))
        return cls(**values)


@dataclass(frozen=True)
class OffersPolicy:
    rules: tuple[OfferRule, ...] = ()

    @classmethod
    def from_mapping(cls, data: Mapping | None) -> OffersPolicy:
        """``account.policy["offers"]``; None or {} is no offers. Raises ``PolicyError`` naming
        every bad field of every rule."""
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            refuse(TITLE, [FieldProblem("", "must be a mapping with 'rules'")])
        problems = [FieldProblem(str(key), "is an unknown field") for key in data
                    if key != "rules"]
        rules = data.get("rules", ())
        if isinstance(rules, str | bytes) or not isinstance(rules, Sequence):
            refuse(TITLE, problems + [FieldProblem("rules", "must be a list")])
        made = []
        for number, rule in enumerate(rules):
            try:
                made.append(OfferRule.from_mapping(rule, path("rules", number)))
            except PolicyError as problem:
                problems += problems_of(problem)
        refuse(TITLE, problems)
        return cls(tuple(made))

    def to_dict(self) -> dict:
        """The mapping ``from_mapping`` reads back (fields left at their default left out)."""
        return {"rules": [_rule_dict(rule) for rule in self.rules]}


def _rule_dict(rule: OfferRule) -> dict:
    values = {}
    for f in fields(rule):
        value = getattr(rule, f.name)
        if f.name in ("kind", "months") or value != f.default:
            values[f.name] = list(value) if isinstance(value, tuple) else value
    return values


def choose_offer(policy: OffersPolicy, segment: Segment, message_kind: str) -> OfferRule | None:
    """The first rule of ``policy`` that offers something in this message to this segment."""
    for rule in policy.rules:
        if rule.matches(segment, message_kind):
            return rule
    return None


# Segment conditions: each holds when the rule leaves it unset.

def _amount_in_range(rule: OfferRule, segment: Segment) -> bool:
    if rule.currency is not None and (rule.min_amount is not None or
                                      rule.max_amount is not None) \
            and segment.currency.lower() != rule.currency.lower():
        return False
    low, high = rule.min_amount, rule.max_amount
    return (low is None or segment.amount >= low) and (high is None or segment.amount <= high)


def _interval(rule: OfferRule, segment: Segment) -> bool:
    if rule.plan_interval is None:
        return True
    days = segment.plan_interval_days
    return days is not None and days in PLAN_INTERVALS[rule.plan_interval]


def _tenure(rule: OfferRule, segment: Segment) -> bool:
    if rule.min_tenure_days is None:
        return True
    return segment.tenure_days is not None and segment.tenure_days >= rule.min_tenure_days


def _earlier_failures(rule: OfferRule, segment: Segment) -> bool:
    limit = rule.max_earlier_failures
    return limit is None or segment.earlier_failures <= limit


def _decline(rule: OfferRule, segment: Segment) -> bool:
    return not rule.decline_classes or segment.decline_class in rule.decline_classes


SEGMENT_CHECKS = (_amount_in_range, _interval, _tenure, _earlier_failures, _decline)


# Validation

@dataclass(frozen=True)
class _Unchecked:
    """The fields of a rule before they are known to be valid."""

    kind: object
    months: object
    percent_off: object
    min_amount: object
    max_amount: object
    currency: object
    plan_interval: object
    min_tenure_days: object
    max_earlier_failures: object
    decline_classes: object
    in_messages: object


def _defaults() -> dict:
    return {f.name: f.default for f in fields(OfferRule) if f.name not in ("kind", "months")}


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def rule_problems(rule) -> list[FieldProblem]:
    """Every problem of a rule's fields, each naming its field."""
    problems = []
    if rule.kind not in KINDS:
        problems.append(FieldProblem("kind", f"must be one of {list(KINDS)}, not {rule.kind!r}"))
    limit = MAX_MONTHS.get(rule.kind, 24)
    if not _whole(rule.months) or not 1 <= rule.months <= limit:
        problems.append(FieldProblem("months", f"must be a whole number 1-{limit}"))
    if rule.kind == "discount" and (not _whole(rule.percent_off)
                                    or not 1 <= rule.percent_off <= 100):
        problems.append(FieldProblem("percent_off", "must be a whole number 1-100"))
    if rule.kind == "pause" and rule.percent_off not in (0, None):
        problems.append(FieldProblem("percent_off", "must be left out of a pause"))
    for name in ("min_amount", "max_amount", "min_tenure_days", "max_earlier_failures"):
        value = getattr(rule, name)
        if value is not None and (not _whole(value) or value < 0):
            problems.append(FieldProblem(name, "must be a whole number of at least 0"))
    low, high = rule.min_amount, rule.max_amount
    if _whole(low) and _whole(high) and low > high:
        problems.append(FieldProblem("min_amount", "must not be above max_amount"))
    if rule.currency is not None and (not isinstance(rule.currency, str)
                                      or len(rule.currency) != 3):
        problems.append(FieldProblem("currency", "must be an ISO 4217 code such as 'usd'"))
    if rule.plan_interval is not None and rule.plan_interval not in PLAN_INTERVALS:
        problems.append(FieldProblem("plan_interval",
                                     f"must be one of {list(PLAN_INTERVALS)}"))
    classes = {c.value for c in DeclineClass}
    if not _strings(rule.decline_classes) or not set(rule.decline_classes) <= classes:
        problems.append(FieldProblem("decline_classes", f"must be among {sorted(classes)}"))
    if not _strings(rule.in_messages) or not rule.in_messages or \
            not set(rule.in_messages) <= set(MESSAGE_KINDS):
        problems.append(FieldProblem(
            "in_messages", f"must be a non-empty list among {list(MESSAGE_KINDS)}"))
    return problems


def _strings(value: object) -> bool:
    return isinstance(value, tuple) and all(isinstance(item, str) for item in value)


def _as_tuple(value: object) -> object:
    if isinstance(value, list | tuple):
        return tuple(value)
    return value  # left as it is: validation names it
