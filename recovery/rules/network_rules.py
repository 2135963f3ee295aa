"""The per-payment-method attempt budget that network rules impose, Stripe's own attempts included.

Pure: it judges one proposed attempt time against the attempt history of one budget key (a card
fingerprint; for a bank debit the bank account's fingerprint, else its payment method id). It
never reads the clock or the database and never picks a retry time by preference (the policy
does that, inside what this module allows). Card rules: shared/reference/
stripe-and-card-networks.md, section 2, "Recommended engine budget"; bank debits have their own,
stricter budget (``BANK_DEBIT_BUDGETS``). A card without a fingerprint gets no attempt at all:
its attempts could not be counted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

from recovery.rules.declines import Classification, DeclineClass, normalize_brand

# The networks count attempts per card over a rolling 30 days: Visa's excessive-reattempt rule
# and Mastercard's excessive-authorization rule (reference section 2).
WINDOW = timedelta(days=30)

# Attempts per card per 30 days above which each attempt is a fee: Visa Core Rules (18 Apr 2026,
# Table 7-2) allow 20 reattempts; Mastercard charges from the 36th attempt (reference section 2).
BRAND_CAPS = MappingProxyType({"visa": 20, "mastercard": 35})

CARD = "card"  # Stripe's payment method type for cards; every other type is judged as a debit


@dataclass(frozen=True)
class BankDebitBudget:
    """Retries of one failed bank debit: how many, and how long after its first failure."""

    name: str
    max_retries: int
    span: timedelta


# ACH: Stripe retries an insufficient-funds ACH debit at most 2 times over 14 days (reference
# section 5), and the Nacha Operating Rules (2.12.4, reinitiation) allow an R01/R09 return to be
# presented again at most twice.
ACH_BUDGET = BankDebitBudget("ACH debit", max_retries=2, span=timedelta(days=14))
# SEPA: Adyen's Auto Rescue for SEPA Direct Debit makes at most two retries, for insufficient
# funds (AM04/MS03) only, inside a 42-day window, because every return can cost the merchant a
# bank fee (docs.adyen.com/online-payments/auto-rescue/sepa). We keep the two retries and the
# 14-day span of ACH, the stricter of the two.
SEPA_BUDGET = BankDebitBudget("SEPA debit", max_retries=2, span=timedelta(days=14))
BANK_DEBIT_BUDGETS = MappingProxyType({"us_bank_account": ACH_BUDGET, "sepa_debit": SEPA_BUDGET})
# Any other non-card method (BACS, BECS, ACSS, ...): no published limit checked here, so the
# strictest budget we know.
OTHER_METHOD_BUDGET = ACH_BUDGET

ATTEMPTERS = frozenset({"stripe", "engine"})


@dataclass(frozen=True)
class AttemptRecord:
    """One charge attempt on a payment method, by Stripe's own schedule or by the engine."""

    card_fingerprint: str  # the budget key (``budget_key``): a card's fingerprint, or a bank's
    at: datetime
    succeeded: bool
    classification: Classification | None = None  # None for successes or unknown declines
    by: str = "engine"
    # Stripe's payment method type (card | us_bank_account | sepa_debit | ...); None: not known
    # for this attempt (our own pay call's answer may not name it).
    kind: str | None = None

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
    # no_fingerprint | card_blocked | window_blocked | mac_wait | cap_30d | spacing
    # | debit_not_retryable | debit_retries_spent
    rule: str | None = None


@dataclass(frozen=True)
class _Refusal:
    rule: str
    reason: str
    until: datetime | None  # when this rule stops refusing; None: never


@dataclass(frozen=True)
class _Subject:
    """What the rules judge: one key's attempt history, its brand and kind, and the limits."""

    records: Sequence[AttemptRecord]
    brand: str | None
    kind: str
    limits: NetworkLimits


def budget_key(kind: str | None, fingerprint: str | None,
               payment_method_id: str | None) -> str | None:
    """The key a payment method's attempts are counted under, or None when there is none.

    A card is known to the networks by its fingerprint only: without one there is nothing to
    count, so no key (and no retry). A bank account is keyed by its fingerprint where Stripe
    gives one, else by its payment method.
    """
    if (kind or CARD) == CARD:
        return fingerprint or None
    return fingerprint or payment_method_id or None


def check_attempt(
    card_fingerprint: str | None,
    brand: str | None,
    at: datetime,
    history: Sequence[AttemptRecord],
    limits: NetworkLimits = NetworkLimits(),
    kind: str | None = None,
) -> BudgetDecision:
    """Judge one attempt on the key ``card_fingerprint`` at ``at``; only that key's history
    counts. ``kind`` is the payment method type; None: the kind its history records (a card
    when it has none)."""
    _require_aware(at)
    if not card_fingerprint:
        return BudgetDecision(False, NO_FINGERPRINT_REASON, None, "no_fingerprint")
    subject = _subject(card_fingerprint, brand, history, limits, kind)
    refusals = _refusals(subject, at)
    if not refusals:
        return BudgetDecision(True, _allowed_reason(subject, at), at)
    first = refusals[0]
    return BudgetDecision(False, first.reason, _search_earliest(subject, at), first.rule)


NO_FINGERPRINT_REASON = (
    "no retry: the payment method on file has no fingerprint, so its attempts cannot be "
    "counted; ask for a new card or re-read the payment method"
)


def earliest_allowed(
    card_fingerprint: str | None,
    brand: str | None,
    not_before: datetime,
    history: Sequence[AttemptRecord],
    limits: NetworkLimits = NetworkLimits(),
    kind: str | None = None,
) -> datetime | None:
    """The earliest time at or after ``not_before`` that ``check_attempt`` allows, or None."""
    _require_aware(not_before)
    if not card_fingerprint:
        return None
    subject = _subject(card_fingerprint, brand, history, limits, kind)
    return _search_earliest(subject, not_before)


def attempt_cap(brand: str | None, limits: NetworkLimits = NetworkLimits()) -> int:
    """Attempts allowed per card per rolling 30 days: the engine's cap within the brand's."""
    brand_cap = BRAND_CAPS.get(normalize_brand(brand) or "", limits.max_attempts_per_30_days)
    return min(limits.max_attempts_per_30_days, brand_cap)


def kind_of(card_fingerprint: str, history: Sequence[AttemptRecord]) -> str:
    """The payment method type a key's attempts were recorded with (a card if none says)."""
    known = [r for r in _card_history(card_fingerprint, history) if r.kind]
    if not known:
        return CARD
    return max(known, key=lambda record: record.at).kind


def _subject(key: str, brand: str | None, history: Sequence[AttemptRecord],
             limits: NetworkLimits, kind: str | None) -> _Subject:
    records = _card_history(key, history)
    return _Subject(records, brand, kind or kind_of(key, records), limits)


def _allowed_reason(subject: _Subject, at: datetime) -> str:
    if subject.kind != CARD:
        budget = _debit_budget(subject.kind)
        return f"allowed: {budget.name}, at most {budget.max_retries} retries per failure"
    used = _attempts_in_window(subject.records, at)
    cap = attempt_cap(subject.brand, subject.limits)
    return f"allowed: {used} of {cap} attempts in 30 days used"


def _search_earliest(subject: _Subject, start: datetime) -> datetime | None:
    # Each refusing rule keeps refusing on [t, until), so jumping to the latest ``until`` never
    # skips an allowed time. ``until`` values come from a finite set (record time + a fixed
    # span), and t strictly grows, so the loop ends.
    t = start
    while refusals := _refusals(subject, t):
        untils = [r.until for r in refusals]
        if None in untils:
            return None
        t = max(u for u in untils if u is not None)
    return t


def _refusals(subject: _Subject, at: datetime) -> list[_Refusal]:
    """Every rule that refuses an attempt at ``at``, most severe first."""
    rules = CARD_RULES if subject.kind == CARD else DEBIT_RULES
    found = (check(subject, at) for check in rules)
    return [refusal for refusal in found if refusal is not None]


def _card_blocked(subject: _Subject, at: datetime) -> _Refusal | None:
    # Visa category 1, MAC 03/21 and STOP codes: every later attempt on this card is a fee event
    # or a pointless decline, however long we wait. Only a different card starts afresh.
    blocked = [
        (r.at, r.classification)
        for r in subject.records
        if r.classification is not None and r.classification.card_blocked
    ]
    if not blocked:
        return None
    _, last = max(blocked, key=lambda pair: pair[0])
    reason = f"no retry: {last.reason} ({last.decline_class})"
    return _Refusal("card_blocked", reason, None)


def _window_blocked(subject: _Subject, at: datetime) -> _Refusal | None:
    # Stripe blocks a card for the rest of the 30-day window after excessive retries
    # (support.stripe.com/questions/payment-blocked-due-to-excessive-retries).
    what = "for the rest of the 30-day window"
    return _wait_after(subject.records, at, "window_blocked", _window_span, what)


def _mac_wait(subject: _Subject, at: datetime) -> _Refusal | None:
    # Mastercard MAC 24-30 (and 02) name a minimum wait before the next attempt on the card.
    return _wait_after(subject.records, at, "mac_wait", _mac_span, "the issuer's retry-after wait")


def _cap_30d(subject: _Subject, at: datetime) -> _Refusal | None:
    cap = attempt_cap(subject.brand, subject.limits)
    recent = sorted(r.at for r in subject.records if at - WINDOW < r.at <= at)
    if len(recent) < cap:
        return None
    # The window must lose enough attempts to leave room for one more: the oldest
    # (len - cap + 1) must have left it.
    until = recent[len(recent) - cap] + WINDOW
    reason = f"no retry: {len(recent)} attempts on this card in 30 days (cap {cap})"
    return _Refusal("cap_30d", reason, until)


def _spacing(subject: _Subject, at: datetime) -> _Refusal | None:
    # One attempt per card per 24 h (reference section 2, recommended budget). Measured both
    # ways, so an attempt can't be slotted just before one already on record either.
    spacing = subject.limits.min_spacing
    near = [r.at for r in subject.records if abs(at - r.at) < spacing]
    if not near:
        return None
    until = max(near) + spacing
    what = "card" if subject.kind == CARD else "bank account"
    rule = f"one attempt per {what} per {_span(spacing)}"
    return _Refusal("spacing", f"no retry before {_when(until)}: {rule}", until)


def _debit_not_retryable(subject: _Subject, at: datetime) -> _Refusal | None:
    # A returned debit may be presented again only for insufficient funds (Nacha 2.12.4 for ACH;
    # Adyen rescues SEPA only for AM04/MS03): any other failure, or one we could not read, ends
    # the retries of this failure.
    hard = [r for r in _failure_run(subject, at)
            if r.classification is None or r.classification.decline_class is not DeclineClass.RETRY]
    if not hard:
        return None
    reason = hard[-1].classification.reason if hard[-1].classification else "unknown failure"
    budget = _debit_budget(subject.kind)
    return _Refusal("debit_not_retryable",
                    f"no retry: {reason} ({budget.name}: only insufficient funds is retried)", None)


def _debit_retries_spent(subject: _Subject, at: datetime) -> _Refusal | None:
    run = _failure_run(subject, at)
    if not run:
        return None
    budget = _debit_budget(subject.kind)
    retries = len(run) - 1
    if retries >= budget.max_retries:
        return _Refusal("debit_retries_spent", f"no retry: {retries} retries of this "
                        f"{budget.name} made (at most {budget.max_retries})", None)
    if at > run[0].at + budget.span:
        return _Refusal("debit_retries_spent", f"no retry: the {budget.name} may only be retried "
                        f"within {budget.span.days} days of its first failure", None)
    return None


def _failure_run(subject: _Subject, at: datetime) -> list[AttemptRecord]:
    """The failed attempts of the debit being recovered at ``at``: those since the last success,
    starting again with a failure more than the budget's span after the run began (a new
    debit, such as the next invoice's)."""
    span = _debit_budget(subject.kind).span
    run: list[AttemptRecord] = []
    for record in sorted((r for r in subject.records if r.at <= at), key=lambda r: r.at):
        if record.succeeded:
            run = []
        elif not run or record.at > run[0].at + span:
            run = [record]
        else:
            run.append(record)
    return run


def _debit_budget(kind: str) -> BankDebitBudget:
    return BANK_DEBIT_BUDGETS.get(kind, OTHER_METHOD_BUDGET)


_BudgetRule = Callable[[_Subject, datetime], _Refusal | None]
CARD_RULES: tuple[_BudgetRule, ...] = (
    _card_blocked, _window_blocked, _mac_wait, _cap_30d, _spacing,
)
DEBIT_RULES: tuple[_BudgetRule, ...] = (
    _card_blocked, _debit_not_retryable, _debit_retries_spent, _spacing,
)


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
