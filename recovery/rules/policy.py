"""Recovery policy as data, and the pure planning of the next retry. No I/O, no database.

A policy is a schedule (day offsets from the first failure, aligned to a local hour, a maximum
number of retries, a dunning window, quiet hours) plus what to do when dunning ends. Its
``timing`` says who picks each retry's hour: ``fixed`` follows the offsets; ``smart`` hands every
whole hour the rules allow (``smart_candidates``) to a ``Scorer``, which picks one or declines to
spend the attempt. Planning combines the policy with the decline's class and the per-card network
budget. Every plan carries a readable reason, whether the customer is told (``notify_customer``),
and for retries the probability its time was chosen with (``propensity``) and why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from recovery.rules.candidate_hours import STRIPE_ATTEMPT_MARGIN, smart_candidates
from recovery.rules.declines import Classification, DeclineClass
from recovery.rules.network_rules import (
    NO_FINGERPRINT_REASON,
    AttemptRecord,
    NetworkLimits,
    earliest_allowed,
)
from recovery.rules.problems import FieldProblem, refuse
from recovery.rules.retry_fields import retry_field_problems

# Sections of ``account.policy`` that other policies own (each validated by its own module):
# the retry policy reads the fields beside them.
POLICY_SECTIONS = ("communication", "branding", "offers", "segments")


@dataclass(frozen=True)
class RetryPolicy:
    name: str = "default"
    offsets_days: tuple[float, ...] = (1, 4, 8, 14, 21)
    local_hour: int | None = 9  # align each retry to this hour in the customer's timezone
    max_retries: int = 5
    window_days: int = 28  # dunning window from the first failure
    quiet_start_hour: int = 21  # no charge between 21:00 and 08:00 local
    quiet_end_hour: int = 8
    max_attempts_per_30_days: int = 8
    min_hours_between_attempts: float = 24
    card_update_retry_minutes: int = 5
    ownership: str = "exclusive"
    end_subscription: str = "cancel"
    end_invoice: str = "uncollectible"
    timing: str = "fixed"  # fixed: the offsets pick the hour; smart: the scorer does
    exploration: float = 0.1  # share of smart decisions that try another allowed hour

    def __post_init__(self) -> None:
        refuse("invalid policy", retry_field_problems(vars(self)))

    @property
    def limits(self) -> NetworkLimits:
        return NetworkLimits(
            min_spacing=timedelta(hours=self.min_hours_between_attempts),
            max_attempts_per_30_days=self.max_attempts_per_30_days,
        )

    @classmethod
    def from_dict(cls, data: Mapping | None) -> RetryPolicy:
        """The policy ``data`` describes, beside the sections other policies own; one
        ``PolicyError`` names every wrong field."""
        if data is not None and not isinstance(data, Mapping):
            refuse("invalid policy", [FieldProblem("", "must be an object of policy fields")])
        values = {key: value for key, value in (data or {}).items() if key not in POLICY_SECTIONS}
        refuse("invalid policy", retry_problems(values))
        if "offsets_days" in values:
            values["offsets_days"] = tuple(float(day) for day in values["offsets_days"])
        return cls(**values)

    def to_dict(self) -> dict:
        values = asdict(self)
        values["offsets_days"] = list(self.offsets_days)
        return values

    def with_offsets(self, offsets: Sequence[float], name: str) -> RetryPolicy:
        return replace(self, name=name, offsets_days=tuple(offsets), max_retries=len(offsets))


def retry_problems(values: Mapping[str, Any]) -> list[FieldProblem]:
    """Every problem of ``values`` as retry policy fields (the rest left at their defaults):
    unknown fields and wrong values alike."""
    known = RetryPolicy.__dataclass_fields__
    problems = [FieldProblem(str(key), "is an unknown field")
                for key in values if key not in known]
    defaults = {name: known[name].default for name in known}
    return problems + retry_field_problems(
        {**defaults, **{key: value for key, value in values.items() if key in known}})


@dataclass(frozen=True)
class RetryContext:
    """What planning needs to know about one case, at ``now``."""

    now: datetime
    first_failed_at: datetime
    retries_done: int  # the engine's own retries so far
    classification: Classification | None  # of the latest decline
    card_fingerprint: str | None
    card_brand: str | None
    history: Sequence[AttemptRecord] = field(default_factory=tuple)  # every attempt on any card
    timezone: str = "UTC"
    card_changed: bool = False  # a different or updated card is on file since the last decline
    stripe_next_attempt: datetime | None = None  # coexist mode: Stripe's own next attempt
    # Stripe's payment method type (card, us_bank_account, sepa_debit, ...); None: the kind the
    # history records for the card's key. ``card_fingerprint`` is that key (network_rules).
    payment_method_kind: str | None = None
    case_id: int | None = None  # seeds exploration and finds the case's snapshot
    account_id: str | None = None


@dataclass(frozen=True)
class Plan:
    kind: str  # retry | wait_new_card | wait_authentication | wait_reconcile | end
    at: datetime | None
    reason: str
    retry_number: int | None = None
    notify_customer: bool = False  # tell the customer (which message: rules.communication)
    # Retries only: the probability the time was chosen with (1 for a fixed schedule), why,
    # by which scorer, and the chosen hour's features: the training and evaluation log.
    propensity: float | None = None
    explanation: Mapping[str, Any] | None = None
    scorer_version: str | None = None
    features: Mapping[str, Any] | None = None


FIXED_VERSION = "fixed"


@dataclass(frozen=True)
class RetryQuestion:
    """One smart-timing decision: which allowed hour to spend the next retry at, if any."""

    policy: RetryPolicy
    context: RetryContext
    retry_number: int
    retries_allowed: int
    window_end: datetime
    candidates: np.ndarray  # whole hours since the epoch (int64, ascending), each one allowed
    fixed_at: datetime | None  # where the policy's fixed schedule would retry, if in the window

    @property
    def retries_left(self) -> int:
        return self.retries_allowed - self.retry_number + 1


@dataclass(frozen=True)
class Choice:
    """A scorer's answer: a time (one of the candidates) or None to keep the card untouched."""

    at: datetime | None
    propensity: float  # probability this answer had under the scorer's (exploring) policy
    reason: str
    explanation: Mapping[str, Any]
    version: str
    features: Mapping[str, Any] | None = None  # the chosen hour's feature row


class Scorer(Protocol):
    """Picks one of a question's candidate hours (all allowed), or declines.

    ``prepare`` is called once per planning batch, before any ``choose``, so a scorer can read
    what it needs for many cases in a few queries; ``choose_many`` answers a batch at once."""

    version: str

    def prepare(self, session: Any, cases: Sequence[Any], now: datetime) -> None: ...

    def choose(self, context: RetryQuestion, candidates: np.ndarray) -> Choice: ...

    def choose_many(self, questions: Sequence[RetryQuestion]) -> list[Choice]: ...


class BaselineScorer:
    """Takes the earliest allowed hour, always."""

    version = "baseline-1"

    def prepare(self, session: Any, cases: Sequence[Any], now: datetime) -> None:
        return None

    def choose(self, context: RetryQuestion, candidates: np.ndarray) -> Choice:
        at = datetime.fromtimestamp(int(candidates[0]) * 3600, UTC)
        return Choice(at, 1.0, "earliest allowed hour", {}, self.version)

    def choose_many(self, questions: Sequence[RetryQuestion]) -> list[Choice]:
        return [self.choose(q, q.candidates) for q in questions]


def plan_next_retry(policy: RetryPolicy, ctx: RetryContext, scorer: Scorer | None = None) -> Plan:
    """The next step for an open case after a decline (or after the card changed)."""
    return plan_next_retries([(policy, ctx)], scorer)[0]


def plan_next_retries(items: Sequence[tuple[RetryPolicy, RetryContext]],
                      scorer: Scorer | None = None) -> list[Plan]:
    """Plan many cases; the smart decisions among them go to the scorer in one batch."""
    staged = [_stage(policy, ctx) for policy, ctx in items]
    questions = [entry for entry in staged if isinstance(entry, RetryQuestion)]
    choices = iter((scorer or BaselineScorer()).choose_many(questions)) if questions else iter(())
    return [_answer(entry, next(choices)) if isinstance(entry, RetryQuestion) else entry
            for entry in staged]


def _stage(policy: RetryPolicy, ctx: RetryContext) -> Plan | RetryQuestion:
    """The plan, when the rules alone decide it; else the question for the scorer."""
    window_end = ctx.first_failed_at + timedelta(days=policy.window_days)
    waiting = _waiting_plan(ctx, window_end)
    if waiting is not None:
        return waiting
    if not ctx.card_fingerprint:
        # A retry the network rules cannot count is a blind one: ask for a card we can judge.
        return Plan("wait_new_card", window_end, NO_FINGERPRINT_REASON, notify_customer=True)
    number = ctx.retries_done + 1
    allowed = _allowed_retries(policy, ctx)
    if number > allowed:
        return _out_of_retries(ctx, allowed, window_end)
    target = _target_time(policy, ctx, number)
    candidate = _first_allowed(policy, ctx, target)
    if candidate is None:
        return Plan("wait_new_card", window_end, "no retry: the network rules bar this card",
                    notify_customer=True)
    # A new card is tried within minutes whatever the timing: there is nothing to wait for.
    if policy.timing == "fixed" or ctx.card_changed:
        if candidate > window_end:
            return Plan("end", window_end, "no retry: the next allowed time is after the window")
        return _retry_plan(policy, ctx, number, allowed, Choice(
            candidate, 1.0, "", {}, FIXED_VERSION))
    hours = smart_candidates(policy, ctx, ctx.now, window_end)
    if hours.size == 0:
        return Plan("end", window_end, "no retry: no hour the rules allow is left in the window")
    fixed_at = candidate if candidate <= window_end else None
    return RetryQuestion(policy, ctx, number, allowed, window_end, hours, fixed_at)


def _answer(question: RetryQuestion, choice: Choice) -> Plan:
    ctx = question.context
    if choice.at is not None:
        return _retry_plan(question.policy, ctx, question.retry_number,
                           question.retries_allowed, choice)
    reason = f"no retry: not worth the card's fatigue ({choice.reason})"
    label = ctx.classification
    extra = dict(propensity=choice.propensity, explanation=choice.explanation,
                 scorer_version=choice.version)
    if label is not None and label.decline_class == DeclineClass.RETRY_LIMITED:
        # A weak soft decline not worth another try on this card: only a new card can help.
        return Plan("wait_new_card", question.window_end, f"{reason}; asking for a new card",
                    notify_customer=True, **extra)
    # The customer can still fix the card or pay until the window closes.
    return Plan("end", question.window_end, reason, **extra)


def _retry_plan(policy: RetryPolicy, ctx: RetryContext, number: int, allowed: int,
                choice: Choice) -> Plan:
    reason = _retry_reason(policy, ctx, number, allowed, choice.at)
    if choice.reason:
        reason = f"{reason}; {choice.reason}"
    label = ctx.classification
    tell = label is not None and label.notify_customer and not ctx.card_changed
    return Plan("retry", choice.at, reason, number, notify_customer=tell,
                propensity=choice.propensity, explanation=choice.explanation,
                scorer_version=choice.version, features=choice.features)


def _out_of_retries(ctx: RetryContext, allowed: int, window_end: datetime) -> Plan:
    spent = f"{ctx.retries_done} retries made (max {allowed})"
    label = ctx.classification
    if label is not None and label.decline_class == DeclineClass.RETRY_LIMITED \
            and not ctx.card_changed:
        # A weak soft decline that kept failing will not pass on this card: only a new one can.
        return Plan("wait_new_card", window_end,
                    f"no retry: {spent} after {label.code or label.reason}; asking for a new card",
                    notify_customer=True)
    # The customer can still fix the card or pay until the window closes.
    return Plan("end", window_end, f"no retry: {spent}")


def _waiting_plan(ctx: RetryContext, window_end: datetime) -> Plan | None:
    if ctx.now >= window_end:
        return Plan("end", ctx.now, "no retry: the dunning window has ended")
    label = ctx.classification
    if label is None or ctx.card_changed:
        return None
    tell = label.notify_customer
    if label.decline_class == DeclineClass.AUTHENTICATION:
        return Plan("wait_authentication", window_end,
                    f"no retry: {label.reason} (authentication); waiting for the customer", None,
                    tell)
    if label.decline_class in (DeclineClass.STOP, DeclineClass.NEW_PAYMENT_METHOD):
        return Plan("wait_new_card", window_end,
                    f"no retry: {label.reason} ({label.decline_class}); waiting for a new card",
                    None, tell)
    if label.decline_class == DeclineClass.RECONCILE:
        # Duplicate, wrong amount, token or review problems are ours to check; retrying the same
        # request would only repeat them. The engine raises an alert when it records one.
        return Plan("wait_reconcile", window_end,
                    f"no retry: {label.reason} (reconcile); an operator must check this payment")
    return None


def _allowed_retries(policy: RetryPolicy, ctx: RetryContext) -> int:
    if ctx.card_changed:
        # A different or updated card always deserves one attempt, whatever was spent before.
        return max(policy.max_retries, ctx.retries_done + 1)
    label = ctx.classification
    if label is not None and label.decline_class == DeclineClass.RETRY_LIMITED:
        return min(policy.max_retries, label.max_attempts or 3)
    return policy.max_retries


def _target_time(policy: RetryPolicy, ctx: RetryContext, number: int) -> datetime:
    if ctx.card_changed:
        return ctx.now + timedelta(minutes=policy.card_update_retry_minutes)
    offsets = policy.offsets_days or (1.0,)
    index = min(number, len(offsets)) - 1
    extra_days = max(number - len(offsets), 0)  # beyond the listed offsets: one a day
    target = ctx.first_failed_at + timedelta(days=offsets[index] + extra_days)
    if policy.local_hour is not None:
        target = _at_local_hour(target, policy.local_hour, _zone(ctx.timezone))
    return max(target, ctx.now)


def _first_allowed(policy: RetryPolicy, ctx: RetryContext, target: datetime) -> datetime | None:
    """Move ``target`` forward until quiet hours, the network budget and Stripe's slot agree."""
    zone = _zone(ctx.timezone)
    candidate = target
    for _ in range(20):
        moved = _outside_quiet_hours(candidate, policy, zone)
        moved = _away_from_stripe_attempt(moved, policy, ctx)
        moved = earliest_allowed(ctx.card_fingerprint, ctx.card_brand, moved, ctx.history,
                                 policy.limits, ctx.payment_method_kind)
        if moved is None:
            return None
        if moved == candidate:
            return candidate
        candidate = moved
    return candidate


def _away_from_stripe_attempt(at: datetime, policy: RetryPolicy, ctx: RetryContext) -> datetime:
    stripe_at = ctx.stripe_next_attempt
    if policy.ownership != "coexist" or stripe_at is None:
        return at
    if abs(at - stripe_at) < STRIPE_ATTEMPT_MARGIN:
        return stripe_at + STRIPE_ATTEMPT_MARGIN
    return at


def outside_quiet_hours(policy: RetryPolicy, at: datetime, timezone: str) -> datetime:
    """``at``, or the end of the policy's quiet hours in ``timezone`` if ``at`` falls in them."""
    return _outside_quiet_hours(at, policy, _zone(timezone))


def _outside_quiet_hours(at: datetime, policy: RetryPolicy, zone: ZoneInfo) -> datetime:
    start, end = policy.quiet_start_hour, policy.quiet_end_hour
    if start == end:
        return at
    local = at.astimezone(zone)
    quiet = (local.hour >= start or local.hour < end) if start > end else start <= local.hour < end
    if not quiet:
        return at
    wake = local.replace(hour=end, minute=0, second=0, microsecond=0)
    if wake <= local:
        wake += timedelta(days=1)
    return wake.astimezone(at.tzinfo)


def _at_local_hour(at: datetime, hour: int, zone: ZoneInfo) -> datetime:
    local = at.astimezone(zone)
    return local.replace(hour=hour, minute=0, second=0, microsecond=0).astimezone(at.tzinfo)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _retry_reason(policy, ctx: RetryContext, number: int, allowed: int, at: datetime) -> str:
    day = (at - ctx.first_failed_at).days + 1
    local = at.astimezone(_zone(ctx.timezone)).strftime("%H:%M")
    cause = "card updated" if ctx.card_changed else (
        ctx.classification.code or ctx.classification.reason if ctx.classification else "declined"
    )
    return f"retry {number} of {allowed}, day {day}, {local} local: {cause}"
