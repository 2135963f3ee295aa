"""The per-card attempt budget that card-network rules impose, Stripe's own attempts included.

Pure: it judges one proposed attempt time against the attempt history of one card fingerprint.
It never reads the clock or the database and never picks a retry time by preference (the policy
does that, inside what this module allows). Rules: shared/reference/stripe-and-card-networks.md,
section 2, "Recommended engine budget".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

from recovery.rules.declines import Classification, normalize_brand

# The networks count attempts per card over a rolling 30 days: Visa's excessive-reattempt rule
# and Mastercard's excessive-authorization rule (reference section 2).
WINDOW = timedelta(days=30)

# Attempts per card per 30 days above which each attempt is a fee: Visa Core Rules (18 Apr 2026,
# Table 7-2) allow 20 reattempts; Mastercard charges from the 36th attempt (reference section 2).
BRAND_CAPS = MappingProxyType({"visa": 20, "mastercard": 35})

ATTEMPTERS = frozenset({"stripe", "engine"})


@dataclass(frozen=True)
class AttemptRecord:
    """One charge attempt on a card, by Stripe's own schedule or by the engine."""

    card_fingerprint: str
    at: datetime
    succeeded: bool
    classification: Classification | None = None  # None for successes or unknown declines
    by: str = "engine"

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise ValueError("AttemptRecord.at must be timezone-aware")
        if self.by not in ATTEMPTERS:
            raise ValueError(f"AttemptRecord.by must be one of {sorted(ATTEMPTERS)}")


@dataclass(frozen=True)
class NetworkLimits:
    """The engine's own budget, always inside every network's limit."""

    min_spacing: timedelta = timedelta(hours=24)
    max_attempts_per_30_days: int = 8

    def __post_init__(self) -> None:
        if self.min_spacing < timedelta(0):
            raise ValueError("min_spacing must not be negative")
        strictest = min(BRAND_CAPS.values())
        if not 1 <= self.max_attempts_per_30_days <= strictest:
            raise ValueError(
                f"max_attempts_per_30_days must be between 1 and {strictest} "
                f"(the strictest network cap: {dict(BRAND_CAPS)})"
            )


@dataclass(frozen=True)
class BudgetDecision:
    """Whether an attempt may run, why, and from when it could."""

    allowed: bool
    reason: str
    earliest: datetime | None  # None: never again on this card
    rule: str | None = None  # card_blocked | window_blocked | mac_wait | cap_30d | spacing


@dataclass(frozen=True)
class _Refusal:
    rule: str
    reason: str
    until: datetime | None  # when this rule stops refusing; None: never


def check_attempt(
    card_fingerprint: str,
    brand: str | None,
    at: datetime,
    history: Sequence[AttemptRecord],
    limits: NetworkLimits = NetworkLimits(),
) -> BudgetDecision:
    """Judge one attempt on ``card_fingerprint`` at ``at``; only that card's history counts."""
    _require_aware(at)
    card = _card_history(card_fingerprint, history)
    refusals = _refusals(card, brand, at, limits)
    if not refusals:
        used = _attempts_in_window(card, at)
        cap = attempt_cap(brand, limits)
        return BudgetDecision(True, f"allowed: {used} of {cap} attempts in 30 days used", at)
    first = refusals[0]
    earliest = _search_earliest(card, brand, at, limits)
    return BudgetDecision(False, first.reason, earliest, first.rule)


def earliest_allowed(
    card_fingerprint: str,
    brand: str | None,
    not_before: datetime,
    history: Sequence[AttemptRecord],
    limits: NetworkLimits = NetworkLimits(),
) -> datetime | None:
    """The earliest time at or after ``not_before`` that ``check_attempt`` allows, or None."""
    _require_aware(not_before)
    card = _card_history(card_fingerprint, history)
    return _search_earliest(card, brand, not_before, limits)


def attempt_cap(brand: str | None, limits: NetworkLimits = NetworkLimits()) -> int:
    """Attempts allowed per card per rolling 30 days: the engine's cap within the brand's."""
    brand_cap = BRAND_CAPS.get(normalize_brand(brand) or "", limits.max_attempts_per_30_days)
    return min(limits.max_attempts_per_30_days, brand_cap)


def _search_earliest(
    card: Sequence[AttemptRecord], brand: str | None, start: datetime, limits: NetworkLimits
) -> datetime | None:
    # Each refusing rule keeps refusing on [t, until), so jumping to the latest ``until`` never
    # skips an allowed time. ``until`` values come from a finite set (record time + a fixed
    # span), and t strictly grows, so the loop ends.
    t = start
    while refusals := _refusals(card, brand, t, limits):
        untils = [r.until for r in refusals]
        if None in untils:
            return None
        t = max(u for u in untils if u is not None)
    return t


def _refusals(
    card: Sequence[AttemptRecord], brand: str | None, at: datetime, limits: NetworkLimits
) -> list[_Refusal]:
    """Every rule that refuses an attempt at ``at``, most severe first."""
    found = (check(card, brand, at, limits) for check in _RULES)
    return [refusal for refusal in found if refusal is not None]


def _card_blocked(
    card: Sequence[AttemptRecord], brand: str | None, at: datetime, limits: NetworkLimits
) -> _Refusal | None:
    # Visa category 1, MAC 03/21 and STOP codes: every later attempt on this card is a fee event
    # or a pointless decline, however long we wait. Only a different card starts afresh.
    blocked = [
        (r.at, r.classification)
        for r in card
        if r.classification is not None and r.classification.card_blocked
    ]
    if not blocked:
        return None
    _, last = max(blocked, key=lambda pair: pair[0])
    reason = f"no retry: {last.reason} ({last.decline_class})"
    return _Refusal("card_blocked", reason, None)


def _window_blocked(
    card: Sequence[AttemptRecord], brand: str | None, at: datetime, limits: NetworkLimits
) -> _Refusal | None:
    # Stripe blocks a card for the rest of the 30-day window after excessive retries
    # (support.stripe.com/questions/payment-blocked-due-to-excessive-retries).
    what = "for the rest of the 30-day window"
    return _wait_after(card, at, "window_blocked", _window_span, what)


def _mac_wait(
    card: Sequence[AttemptRecord], brand: str | None, at: datetime, limits: NetworkLimits
) -> _Refusal | None:
    # Mastercard MAC 24-30 (and 02) name a minimum wait before the next attempt on the card.
    return _wait_after(card, at, "mac_wait", _mac_span, "the issuer's retry-after wait")


def _cap_30d(
    card: Sequence[AttemptRecord], brand: str | None, at: datetime, limits: NetworkLimits
) -> _Refusal | None:
    cap = attempt_cap(brand, limits)
    recent = sorted(r.at for r in card if at - WINDOW < r.at <= at)
    if len(recent) < cap:
        return None
    # The window must lose enough attempts to leave room for one more: the oldest
    # (len - cap + 1) must have left it.
    until = recent[len(recent) - cap] + WINDOW
    reason = f"no retry: {len(recent)} attempts on this card in 30 days (cap {cap})"
    return _Refusal("cap_30d", reason, until)


def _spacing(
    card: Sequence[AttemptRecord], brand: str | None, at: datetime, limits: NetworkLimits
) -> _Refusal | None:
    # One attempt per card per 24 h (reference section 2, recommended budget). Measured both
    # ways, so an attempt can't be slotted just before one already on record either.
    near = [r.at for r in card if abs(at - r.at) < limits.min_spacing]
    if not near:
        return None
    until = max(near) + limits.min_spacing
    rule = f"one attempt per card per {_span(limits.min_spacing)}"
    return _Refusal("spacing", f"no retry before {_when(until)}: {rule}", until)


_BudgetRule = Callable[
    [Sequence[AttemptRecord], str | None, datetime, NetworkLimits], _Refusal | None
]
_RULES: tuple[_BudgetRule, ...] = (_card_blocked, _window_blocked, _mac_wait, _cap_30d, _spacing)


def _wait_after(
    card: Sequence[AttemptRecord],
    at: datetime,
    rule: str,
    span_of: Callable[[Classification], timedelta | None],
    what: str,
) -> _Refusal | None:
    """Refuse while ``at`` lies inside a wait that a past decline on this card imposed."""
    waits = [
        (record.at + span, record.classification)
        for record in card
        if record.classification is not None
        and (span := span_of(record.classification)) is not None
        and record.at <= at < record.at + span
    ]
    if not waits:
        return None
    until, classification = max(waits, key=lambda wait: wait[0])
    reason = f"no retry before {_when(until)}: {classification.reason} ({what})"
    return _Refusal(rule, reason, until)


def _window_span(classification: Classification) -> timedelta | None:
    return WINDOW if classification.blocks_window else None


def _mac_span(classification: Classification) -> timedelta | None:
    return classification.min_wait


def _attempts_in_window(card: Sequence[AttemptRecord], at: datetime) -> int:
    return sum(1 for r in card if at - WINDOW < r.at <= at)


def _card_history(fingerprint: str, history: Sequence[AttemptRecord]) -> list[AttemptRecord]:
    return [record for record in history if record.card_fingerprint == fingerprint]


def _require_aware(at: datetime) -> None:
    if at.tzinfo is None:
        raise ValueError("attempt times must be timezone-aware (UTC)")


def _when(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _span(delta: timedelta) -> str:
    hours, rest = divmod(delta, timedelta(hours=1))
    if not rest:
        return f"{hours} h"
    return f"{delta // timedelta(minutes=1)} min"
