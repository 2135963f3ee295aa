"""Customer communication policy as data: which messages a case sends and when, and the limits
on contacting one customer. Pure: no database, clock or I/O.

Stored under ``account.policy["communication"]`` and validated like the retry policy: every wrong
field is named in one ``PolicyError``. A sequence is a list of steps; each kind of step says when
its message goes out:

- ``payment_failed``, ``card_update_request``, ``authentication_required``: at once, when the case
  first asks something of the customer (which one depends on the decline: see ``opening_notice``);
- ``reminder``: ``after_days`` days after the first failure (several reminders allowed);
- ``final_notice``: ``before_end_days`` days before dunning ends (the retry policy's window end);
- ``payment_recovered``: the receipt, when the case is recovered.

A kind missing from the sequence is not sent. Card-expiring notices are pre-dunning (no case):
``card_expiring_days_before`` days before a card on file expires; 0 turns them off.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from recovery.rules.problems import FieldProblem, path, refuse

OPENING_KINDS = ("payment_failed", "card_update_request", "authentication_required")
SEQUENCE_KINDS = OPENING_KINDS + ("reminder", "final_notice", "payment_recovered")
# Every message the engine sends (the renderer's kinds): the sequence's plus pre-dunning.
MESSAGE_KINDS = SEQUENCE_KINDS + ("card_expiring",)
CHANNELS = ("email", "sms")
MAX_DAYS = 90  # no dunning window is longer (the retry policy's window_days limit)
MAX_REMINDERS = 10
# Decline classes (recovery.rules.declines.DeclineClass values) that need a new card at once.
NEW_CARD_CLASSES = ("new_payment_method", "stop")
TITLE = "invalid communication policy"


@dataclass(frozen=True)
class SequenceStep:
    """One message of the sequence: its kind and, for timed kinds, when."""

    kind: str
    after_days: float | None = None  # reminder: days after the first failure
    before_end_days: float | None = None  # final notice: days before dunning ends

    @property
    def key(self) -> str:
        """What makes the step unique in a case: its kind, and a reminder's day."""
        if self.kind == "reminder":
            return f"reminder@{_number_text(self.after_days)}"
        return self.kind

    def to_dict(self) -> dict:
        values: dict = {"kind": self.kind}
        if self.after_days is not None:
            values["after_days"] = self.after_days
        if self.before_end_days is not None:
            values["before_end_days"] = self.before_end_days
        return values


DEFAULT_SEQUENCE = (
    SequenceStep("payment_failed"),
    SequenceStep("card_update_request"),
    SequenceStep("authentication_required"),
    # One reminder and no final notice by default: past a customer's second unanswered message,
    # more dunning makes some customers cancel rather than pay ("dunning fatigue"), and a
    # cancellation loses every later invoice, not one. An account that wants more lists them
    # (and raises ``max_unanswered``).
    SequenceStep("reminder", after_days=7),
    SequenceStep("payment_recovered"),
)
# The messages that ask the customer to act on a failed payment (``max_unanswered`` counts
# them); the receipt and the card-expiring notice are not dunning.
DUNNING_KINDS = OPENING_KINDS + ("reminder", "final_notice")


@dataclass(frozen=True)
class CommunicationPolicy:
    enabled: bool = True
    sequence: tuple[SequenceStep, ...] = DEFAULT_SEQUENCE
    card_update_at_once: bool = True  # for new-payment-method and stop declines
    card_expiring_days_before: int = 14  # 0: no card-expiring notices
    quiet_start_hour: int = 21  # no message between 21:00 and 08:00, customer's local time
    quiet_end_hour: int = 8
    max_per_case: int = 6
    max_per_customer_week: int = 3
    min_gap_hours: float = 24
    # At most this many dunning messages to a customer who has not answered them: counted since
    # their latest recovered invoice or card change, across all their cases, so a customer whose
    # card keeps failing is not sent a fresh sequence every month. 0: no limit.
    max_unanswered: int = 2
    final_notice_must_send: bool = True  # a legal notice: sent even to an unsubscribed customer
    channels: tuple[str, ...] = ("email",)

    def __post_init__(self) -> None:
        refuse(TITLE, _problems(self))

    @classmethod
    def from_mapping(cls, data: Mapping | None) -> CommunicationPolicy:
        """The policy stored as ``data`` (None or {}: the defaults); ``PolicyError`` names every
        wrong field."""
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            refuse(TITLE, [FieldProblem("", "must be an object of fields")])
        problems = [FieldProblem(str(key), "is an unknown field")
                    for key in data if key not in _FIELDS]
        values = {key: value for key, value in data.items() if key in _FIELDS}
        if "sequence" in values:
            steps, step_problems = _parse_sequence(values["sequence"])
            problems += step_problems
            values["sequence"] = steps
        if "channels" in values:
            channels = values["channels"]
            if isinstance(channels, str) or not isinstance(channels, Sequence):
                problems.append(FieldProblem("channels", f"must be a list of {list(CHANNELS)}"))
                values.pop("channels")
            else:
                values["channels"] = tuple(channels)
        refuse(TITLE, problems + _problems(_unchecked(values)))
        return cls(**values)

    def to_dict(self) -> dict:
        return {
            "enabled": self.enabled, "sequence": [step.to_dict() for step in self.sequence],
            "card_update_at_once": self.card_update_at_once,
            "card_expiring_days_before": self.card_expiring_days_before,
            "quiet_start_hour": self.quiet_start_hour, "quiet_end_hour": self.quiet_end_hour,
            "max_per_case": self.max_per_case,
            "max_per_customer_week": self.max_per_customer_week,
            "min_gap_hours": self.min_gap_hours, "max_unanswered": self.max_unanswered,
            "final_notice_must_send": self.final_notice_must_send,
            "channels": list(self.channels),
        }

    def has(self, kind: str) -> bool:
        return self.enabled and any(step.kind == kind for step in self.sequence)

    def must_send(self, kind: str) -> bool:
        """Sent even to an unsubscribed customer: the receipt (transactional) and, if the
        policy says so, the final notice (a legal notice before the subscription ends)."""
        return kind == "payment_recovered" or (kind == "final_notice"
                                               and self.final_notice_must_send)


_FIELDS = ("enabled", "sequence", "card_update_at_once", "card_expiring_days_before",
           "quiet_start_hour", "quiet_end_hour", "max_per_case", "max_per_customer_week",
           "min_gap_hours", "max_unanswered", "final_notice_must_send", "channels")


def _unchecked(values: dict) -> CommunicationPolicy:
    """A policy built without validation, only to list the problems of its plain fields."""
    policy = object.__new__(CommunicationPolicy)
    for name in _FIELDS:
        default = CommunicationPolicy.__dataclass_fields__[name].default
        object.__setattr__(policy, name, values.get(name, default))
    return policy


def _parse_sequence(raw) -> tuple[tuple[SequenceStep, ...], list[FieldProblem]]:
    if isinstance(raw, str | bytes) or not isinstance(raw, Sequence):
        return DEFAULT_SEQUENCE, [FieldProblem("sequence", "must be a list of steps")]
    steps, problems = [], []
    for index, item in enumerate(raw):
        if isinstance(item, SequenceStep):
            steps.append(item)
            continue
        where = path("sequence", index)
        if not isinstance(item, Mapping):
            problems.append(FieldProblem(where, "must be a mapping with a kind"))
            continue
        unknown = [FieldProblem(path(where, str(key)), "is an unknown field")
                   for key in item if key not in ("kind", "after_days", "before_end_days")]
        if unknown:
            problems += unknown
            continue
        steps.append(SequenceStep(item.get("kind"), item.get("after_days"),
                                  item.get("before_end_days")))
    return tuple(steps), problems


def _problems(policy: CommunicationPolicy) -> list[FieldProblem]:
    return list(_field_problems(policy)) + list(_sequence_problems(policy.sequence))


def _field_problems(policy: CommunicationPolicy):
    for name in ("enabled", "card_update_at_once", "final_notice_must_send"):
        if not isinstance(getattr(policy, name), bool):
            yield FieldProblem(name, "must be true or false")
    yield from _whole_number("card_expiring_days_before", policy.card_expiring_days_before,
                             0, 60)
    for name in ("quiet_start_hour", "quiet_end_hour"):
        yield from _whole_number(name, getattr(policy, name), 0, 23)
    yield from _whole_number("max_per_case", policy.max_per_case, 1, 50)
    yield from _whole_number("max_per_customer_week", policy.max_per_customer_week, 1, 50)
    yield from _whole_number("max_unanswered", policy.max_unanswered, 0, 50)
    gap = policy.min_gap_hours
    if not _finite_number(gap) or not 0 <= gap <= 24 * 14:
        yield FieldProblem("min_gap_hours", "must be a number of hours between 0 and 336")
    channels = policy.channels
    if not isinstance(channels, tuple) or not channels \
            or any(channel not in CHANNELS for channel in channels) \
            or len(set(channels)) != len(channels):
        yield FieldProblem("channels",
                           f"must be a non-empty list of distinct channels from {list(CHANNELS)}")


def _sequence_problems(sequence):
    if not isinstance(sequence, tuple):
        yield FieldProblem("sequence", "must be a list of steps")
        return
    seen: set[str] = set()
    for index, step in enumerate(sequence):
        where = path("sequence", index)
        if not isinstance(step, SequenceStep):
            yield FieldProblem(where, "must be a step")
            continue
        if step.kind not in SEQUENCE_KINDS:
            yield FieldProblem(path(where, "kind"),
                               f"must be one of {list(SEQUENCE_KINDS)}, not {step.kind!r}")
            continue
        yield from _step_timing_problems(where, step)
        key = step.key if _finite_number(step.after_days) or step.kind != "reminder" else None
        if key is not None:
            if key in seen:
                yield FieldProblem(where, f"repeats the {key} step")
            seen.add(key)
    if sum(1 for step in sequence if getattr(step, "kind", None) == "reminder") > MAX_REMINDERS:
        yield FieldProblem("sequence", f"has more than {MAX_REMINDERS} reminders")


def _step_timing_problems(where: str, step: SequenceStep):
    if step.kind == "reminder":
        if not _finite_number(step.after_days) or not 0 < step.after_days <= MAX_DAYS:
            yield FieldProblem(path(where, "after_days"),
                               f"must be a number of days above 0, at most {MAX_DAYS}")
    elif step.after_days is not None:
        yield FieldProblem(path(where, "after_days"), "is only for reminders")
    if step.kind == "final_notice":
        days = step.before_end_days
        if not _finite_number(days) or not 0 <= days <= MAX_DAYS:
            yield FieldProblem(path(where, "before_end_days"),
                               f"must be a number of days from 0 to {MAX_DAYS}")
    elif step.before_end_days is not None:
        yield FieldProblem(path(where, "before_end_days"), "is only for the final notice")


def _whole_number(name: str, value, low: int, high: int):
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        yield FieldProblem(name, f"must be a whole number from {low} to {high}")


def _finite_number(value) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return isinstance(value, int) or math.isfinite(value)  # a huge int fails the range check


def _number_text(value) -> str:
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    return str(value)


# Which notices a case's plan sends


@dataclass(frozen=True)
class Notice:
    """A message to schedule for a case: its kind, the step it is (``key``, once per case),
    when, and why."""

    kind: str
    key: str
    at: datetime
    reason: str


def opening_notice(policy: CommunicationPolicy, plan_kind: str,
                   decline_class: str | None) -> str | None:
    """The message that tells the customer of a plan that needs them to know (``None``: no
    message). Retries: the failure notice. Waiting for a new card: the card-update request (for
    new-payment-method and stop declines only if ``card_update_at_once``, else the failure
    notice). Waiting for authentication: the authentication request."""
    if not policy.enabled:
        return None
    if plan_kind == "retry":
        kind = "payment_failed"
    elif plan_kind == "wait_new_card":
        later = decline_class in NEW_CARD_CLASSES and not policy.card_update_at_once
        kind = "payment_failed" if later else "card_update_request"
    elif plan_kind == "wait_authentication":
        kind = "authentication_required"
    else:
        return None
    return kind if policy.has(kind) else None


def follow_up_notices(policy: CommunicationPolicy, first_failed_at: datetime,
                      window_end: datetime, now: datetime) -> list[Notice]:
    """The reminders and the final notice of a case whose customer has been told: each at its
    time, never after dunning ends; a reminder whose day has passed is left out (the news
    reached the customer later than that), a final notice still due before the end goes now."""
    if not policy.enabled or now >= window_end:
        return []
    notices = []
    for step in policy.sequence:
        if step.kind == "reminder":
            at = first_failed_at + timedelta(days=step.after_days)
            if now <= at < window_end:
                notices.append(Notice("reminder", step.key, at,
                                      f"reminder, day {_number_text(step.after_days)}"))
        elif step.kind == "final_notice":
            at = max(window_end - timedelta(days=step.before_end_days), now)
            notices.append(Notice("final_notice", step.key, at,
                                  f"final notice: dunning ends {window_end:%Y-%m-%d %H:%M} UTC"))
    return notices
