"""Recovery policy as data, and the pure planning of the next retry. No I/O, no database.

A policy is a fixed schedule (day offsets from the first failure, aligned to a local hour, a
maximum number of retries, a dunning window, quiet hours) plus what to do when dunning ends.
Planning combines it with the decline's class and the per-card network budget; a ``Scorer``
(baseline here, learned later) picks among the times that are allowed. Every plan carries a
readable reason, and whether the customer is told (``notify_customer``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from recovery.errors import PolicyError
from recovery.rules.declines import Classification, DeclineClass
from recovery.rules.network_rules import (
    NO_FINGERPRINT_REASON,
    AttemptRecord,
    NetworkLimits,
    earliest_allowed,
)

OWNERSHIP_MODES = ("exclusive", "coexist")
SUBSCRIPTION_ENDINGS = ("cancel", "past_due", "pause")
INVOICE_ENDINGS = ("open", "uncollectible", "void")
# Coexist mode never places an engine attempt this close to Stripe's own next attempt.
STRIPE_ATTEMPT_MARGIN = timedelta(hours=6)


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

    def __post_init__(self) -> None:
        problems = list(_problems(self))
        if problems:
            raise PolicyError("invalid policy: " + "; ".join(problems))

    @property
    def limits(self) -> NetworkLimits:
        return NetworkLimits(
            min_spacing=timedelta(hours=self.min_hours_between_attempts),
            max_attempts_per_30_days=self.max_attempts_per_30_days,
        )

    @classmethod
    def from_dict(cls, data: Mapping | None) -> RetryPolicy:
        data = dict(data or {})
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise PolicyError(f"invalid policy: unknown fields {sorted(unknown)}")
        if "offsets_days" in data:
            try:
                data["offsets_days"] = tuple(float(x) for x in data["offsets_days"])
            except (TypeError, ValueError):
                raise PolicyError("invalid policy: offsets_days must be numbers") from None
        try:
            return cls(**data)
        except TypeError as problem:
            raise PolicyError(f"invalid policy: {problem}") from None

    def to_dict(self) -> dict:
        values = asdict(self)
        values["offsets_days"] = list(self.offsets_days)
        return values

    def with_offsets(self, offsets: Sequence[float], name: str) -> RetryPolicy:
        return replace(self, name=name, offsets_days=tuple(offsets), max_retries=len(offsets))


def _problems(policy: RetryPolicy):
    offsets = policy.offsets_days
    if any(not isinstance(x, int | float) or x <= 0 for x in offsets):
        yield "offsets_days must be positive numbers of days"
    if list(offsets) != sorted(offsets):
        yield "offsets_days must increase"
    if offsets and max(offsets) > policy.window_days:
        yield "every offset must fall inside window_days"
    if not 0 <= policy.max_retries <= 30:
        yield "max_retries must be between 0 and 30"
    if not 1 <= policy.window_days <= 90:
        yield "window_days must be between 1 and 90"
    for hour in (policy.local_hour, policy.quiet_start_hour, policy.quiet_end_hour):
        if hour is not None and not (isinstance(hour, int) and 0 <= hour <= 23):
            yield "hours must be whole hours 0-23"
    if policy.ownership not in OWNERSHIP_MODES:
        yield f"ownership must be one of {OWNERSHIP_MODES}"
    if policy.end_subscription not in SUBSCRIPTION_ENDINGS:
        yield f"end_subscription must be one of {SUBSCRIPTION_ENDINGS}"
    if policy.end_invoice not in INVOICE_ENDINGS:
        yield f"end_invoice must be one of {INVOICE_ENDINGS}"
    try:
        RetryPolicy.limits.fget(policy)
    except ValueError as problem:
        yield str(problem)


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


@dataclass(frozen=True)
class Plan:
    kind: str  # retry | wait_new_card | wait_authentication | wait_reconcile | end
    at: datetime | None
    reason: str
    retry_number: int | None = None
    notify_customer: bool = False  # send the plan's customer notice (NOTICE_FOR_PLAN)


# The message a plan sends when it says to notify the customer.
NOTICE_FOR_PLAN = MappingProxyType({
    "retry": "payment_failed",
    "wait_new_card": "card_update_request",
    "wait_authentication": "authentication_required",
})


class Scorer(Protocol):
    """Picks one time among candidate retry times that are all allowed."""

    version: str

    def choose(self, context: RetryContext, candidates: Sequence[datetime]) -> datetime: ...


class BaselineScorer:
    """Takes the policy's own time: the earliest allowed candidate."""

    version = "baseline-1"

    def choose(self, context: RetryContext, candidates: Sequence[datetime]) -> datetime:
        return min(candidates)


def plan_next_retry(policy: RetryPolicy, ctx: RetryContext, scorer: Scorer | None = None) -> Plan:
    """The next step for an open case after a decline (or after the card changed)."""
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
    if candidate > window_end:
        return Plan("end", window_end, "no retry: the next allowed time is after the window")
    chosen = (scorer or BaselineScorer()).choose(ctx, [candidate])
    reason = _retry_reason(policy, ctx, number, allowed, chosen)
    label = ctx.classification
    tell = label is not None and label.notify_customer and not ctx.card_changed
    return Plan("retry", chosen, reason, number, notify_customer=tell)


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
