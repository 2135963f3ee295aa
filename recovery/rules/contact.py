"""Whether, and when, one message may go to a customer: the contact rules. Pure: the caller
passes the time, the customer's messages and the policy.

The rules, for every message (must-sends included, so they hold for everything a customer gets):
- quiet hours in the customer's time zone: a message due in them waits for their end;
- at most ``max_per_customer_week`` messages to a customer in any rolling 7 days, and at least
  ``min_gap_hours`` between two of them: a message waits until both hold;
- at most ``max_per_case`` messages per case: one more is refused (waiting would not help);
- at most ``max_unanswered`` dunning messages (``DUNNING_KINDS``) to a customer who has not
  answered: ``unanswered`` is how many they got since their latest recovered invoice or card
  change; one more is refused (0: no limit).

Unsubscribe: an unsubscribed customer gets only must-sends (``CommunicationPolicy.must_send``:
the receipt, which is transactional, and the final notice when ``final_notice_must_send``, a
legal notice before the subscription ends); anything else is refused. Communication turned off
(``enabled: false``) refuses every message.

``sent`` may hold messages timed after ``now`` (one already scheduled for later): the gap and the
weekly cap are checked on both sides of the time returned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from recovery.rules.communication import DUNNING_KINDS, CommunicationPolicy

WEEK = timedelta(days=7)


@dataclass(frozen=True)
class SentRecord:
    """A message the customer got (or is scheduled to get) at ``at``, for ``case_id``."""

    at: datetime
    case_id: int | None
    kind: str


@dataclass(frozen=True)
class ContactDecision:
    """``allowed`` with ``at`` the earliest time the message may go (``now`` or later), or a
    refusal (``at`` None); ``reason`` says which rule decided."""

    allowed: bool
    at: datetime | None
    reason: str


def contact_decision(kind: str, now: datetime, timezone: str, case_id: int | None,
                     sent: Sequence[SentRecord], policy: CommunicationPolicy,
                     unsubscribed: bool, unanswered: int = 0) -> ContactDecision:
    """The earliest time this message may go to the customer, or why it may not."""
    if not policy.enabled:
        return ContactDecision(False, None, "communication is turned off for the account")
    if unsubscribed and not policy.must_send(kind):
        return ContactDecision(False, None, "the customer unsubscribed")
    if kind in DUNNING_KINDS and 0 < policy.max_unanswered <= unanswered:
        return ContactDecision(False, None, f"the customer has not answered {unanswered} "
                                            f"messages (max_unanswered "
                                            f"{policy.max_unanswered})")
    if case_id is not None:
        of_case = sum(1 for record in sent if record.case_id == case_id)
        if of_case >= policy.max_per_case:
            return ContactDecision(False, None, f"the case has had its {policy.max_per_case} "
                                                "messages (max_per_case)")
    at, why = earliest_allowed_time(now, _zone(timezone), sorted(r.at for r in sent), policy)
    if at is None:
        return ContactDecision(False, None, why)
    if at == now:
        reason = "must-send, allowed now" if unsubscribed else "allowed now"
        return ContactDecision(True, now, reason)
    return ContactDecision(True, at, f"deferred: {why}")


def earliest_allowed_time(now: datetime, zone: ZoneInfo, times: Sequence[datetime],
                          policy: CommunicationPolicy) -> tuple[datetime | None, str]:
    """The first time from ``now`` outside quiet hours, ``min_gap_hours`` from every one of
    ``times`` (sorted) and within the weekly cap; with the last rule that moved it. Each rule
    only moves the time forward, to the end of what it forbids, so the loop ends once no rule
    moves it (bounded: every move passes a message or a night)."""
    gap = timedelta(hours=policy.min_gap_hours)
    candidate, why = now, "allowed now"
    for _ in range(8 + 4 * len(times)):
        moved = _after_quiet_hours(candidate, zone, policy)
        if moved != candidate:
            why = "quiet hours in the customer's time zone"
        else:
            moved = _after_gaps(candidate, times, gap)
            if moved != candidate:
                why = f"at least {policy.min_gap_hours:g} hours between messages"
            else:
                moved = _after_week_cap(candidate, times, policy.max_per_customer_week)
                if moved != candidate:
                    why = f"at most {policy.max_per_customer_week} messages in 7 days"
        if moved == candidate:
            return candidate, why
        candidate = moved
    return None, "no time found that the contact rules allow"


def in_quiet_hours(at: datetime, zone: ZoneInfo, start: int, end: int) -> bool:
    """``at`` falls in the quiet hours [start, end) of local time (none when start == end)."""
    if start == end:
        return False
    hour = at.astimezone(zone).hour
    return (hour >= start or hour < end) if start > end else start <= hour < end


def _after_quiet_hours(at: datetime, zone: ZoneInfo, policy: CommunicationPolicy) -> datetime:
    start, end = policy.quiet_start_hour, policy.quiet_end_hour
    if not in_quiet_hours(at, zone, start, end):
        return at
    local = at.astimezone(zone)
    wake = local.replace(hour=end, minute=0, second=0, microsecond=0)
    if wake <= local:  # wall-clock comparison: the end of quiet hours is tomorrow's
        wake += timedelta(days=1)
    # A wake-up hour a DST change skips maps past it; never earlier than ``at`` itself.
    return max(wake.astimezone(at.tzinfo), at + timedelta(minutes=1))


def _after_gaps(at: datetime, times: Sequence[datetime], gap: timedelta) -> datetime:
    """Past the end of every other message's gap that ``at`` falls in (either side)."""
    blocking = [t for t in times if abs(at - t) < gap]
    return max(blocking) + gap if blocking else at


def _after_week_cap(at: datetime, times: Sequence[datetime], cap: int) -> datetime:
    """``cap`` other messages spanning under 7 days forbid every time that would put a
    ``cap + 1``-th in one 7-day window with them: the open interval (last - 7d, first + 7d)."""
    latest = at
    for index in range(len(times) - cap + 1):
        first, last = times[index], times[index + cap - 1]
        if last - first < WEEK and last - WEEK < at < first + WEEK:
            latest = max(latest, first + WEEK)
    return latest


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        return ZoneInfo("UTC")
