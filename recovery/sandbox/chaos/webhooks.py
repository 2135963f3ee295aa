"""Webhook delivery as Stripe's worst days look: duplicated, late, out of order and replayed.

``ChaoticDelivery`` is the fake Stripe's ``deliver`` callback (with ``hold_webhooks=True``): it
only queues copies of each event. ``deliver_due`` sends the copies whose time has come, each one
signed anew at sending (Stripe signs every delivery attempt), except the stale replays, which
keep the signature of the original delivery and must be refused. A copy the receiver does not
accept is sent again later, so no event is lost. Every choice is a keyed draw on the event id.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from recovery.runtime.clock import Clock
from recovery.sandbox.chaos.plan import ChaosPlan
from recovery.sandbox.fake_stripe.events import signature_header

# The receiver answers with the HTTP status; None counts as accepted (a receiver that raises
# on refusal rather than answering).
Deliver = Callable[[str, str], int | None]

# A replay comes at least this long after the event: well past any signature tolerance (Stripe's
# libraries accept 5 minutes; the engine at most 10), so the stale copy is plainly stale.
MIN_REPLAY_GAP = timedelta(hours=1)


@dataclass
class DeliveryCounts:
    events: int = 0  # distinct events received from the fake
    deliveries: int = 0  # every copy sent, stale and failed ones included
    duplicates: int = 0  # extra copies planned beyond the first
    delayed: int = 0  # events whose copies were planned late
    replays: int = 0  # re-signed replays planned
    stale_replays_sent: int = 0
    stale_replays_refused: int = 0
    stale_replays_accepted: int = 0  # a receiver that took a stale signature: a security bug
    failed_deliveries: int = 0  # fresh copies the receiver did not accept (sent again later)
    sent_ids: set[str] = field(default_factory=set)  # events sent at least once (fresh)
    accepted_ids: set[str] = field(default_factory=set)  # events the receiver accepted


@dataclass(frozen=True)
class _Copy:
    event_id: str
    body: str
    number: int  # 0 for the first copy; replays and duplicates count on
    stale_header: str | None = None  # set: send this old signature instead of signing anew


class ChaoticDelivery:
    """Queues copies of each event and sends them when due; see the module docstring."""

    def __init__(self, plan: ChaosPlan, clock: Clock, *, secret: str, deliver: Deliver,
                 signing_clock: Clock | None = None) -> None:
        self._plan = plan
        self._clock = clock
        self._signing_clock = signing_clock or clock
        self._secret = secret
        self._deliver = deliver
        self._queue: list[tuple[datetime, float, int, _Copy]] = []  # (due, order, seq, copy)
        self._seq = 0
        self._lock = threading.Lock()
        self.counts = DeliveryCounts()

    # --- queueing (the fake's deliver callback) ---------------------------------------------

    def __call__(self, body: str, header: str) -> None:
        event_id = _event_id(body)
        now = self._clock.now()
        plan = self._plan
        copies = 1
        if plan.draw("webhook", event_id, "duplicate") < plan.duplicate_share:
            copies = 2 if plan.draw("webhook", event_id, "copies") < 0.5 else 3
        delayed = plan.draw("webhook", event_id, "delay") < plan.delay_share
        planned = [(self._due(event_id, number, now, delayed), _Copy(event_id, body, number))
                   for number in range(copies)]
        replayed = plan.draw("webhook", event_id, "replay") < plan.replay_share
        if replayed:
            planned.append((self._replay_due(event_id, "fresh", now),
                            _Copy(event_id, body, copies)))
            planned.append((self._replay_due(event_id, "stale", now),
                            _Copy(event_id, body, copies + 1, stale_header=header)))
        with self._lock:
            self.counts.events += 1
            self.counts.duplicates += copies - 1
            self.counts.delayed += delayed
            self.counts.replays += replayed
            for due, copy in planned:
                self._push(due, copy)

    def _due(self, event_id: str, number: int, now: datetime, delayed: bool) -> datetime:
        if not delayed:
            return now
        return now + self._plan.max_delay * self._plan.draw("webhook", event_id, "late", number)

    def _replay_due(self, event_id: str, which: str, now: datetime) -> datetime:
        span = max(self._plan.max_delay - MIN_REPLAY_GAP, timedelta(0))
        return now + MIN_REPLAY_GAP + span * self._plan.draw("webhook", event_id, which)

    def _push(self, due: datetime, copy: _Copy) -> None:
        # Copies due together go out in a seeded order when reordering, else in arrival order.
        order = (self._plan.draw("webhook", copy.event_id, "order", copy.number, due.isoformat())
                 if self._plan.reorder else 0.0)
        self._seq += 1
        heapq.heappush(self._queue, (due, order, self._seq, copy))

    # --- sending (the driver) ---------------------------------------------------------------

    def deliver_due(self) -> int:
        """Send every copy due by now, in due order; returns how many were sent."""
        sent = 0
        while (copy := self._pop_due()) is not None:
            header = copy.stale_header or signature_header(
                copy.body, self._secret, int(self._signing_clock.now().timestamp()))
            try:
                status = self._deliver(copy.body, header)
            except BaseException:
                with self._lock:  # keep it queued, first in line, as the outbox does
                    self._push(self._clock.now(), copy)
                raise
            sent += 1
            self._count(copy, accepted=status is None or 200 <= status < 300)
        return sent

    def _pop_due(self) -> _Copy | None:
        with self._lock:
            if self._queue and self._queue[0][0] <= self._clock.now():
                return heapq.heappop(self._queue)[3]
            return None

    def _count(self, copy: _Copy, *, accepted: bool) -> None:
        with self._lock:
            counts = self.counts
            counts.deliveries += 1
            if copy.stale_header is not None:
                counts.stale_replays_sent += 1
                if accepted:
                    counts.stale_replays_accepted += 1
                else:
                    counts.stale_replays_refused += 1
                return
            counts.sent_ids.add(copy.event_id)
            if accepted:
                counts.accepted_ids.add(copy.event_id)
                return
            # As Stripe does with an endpoint that fails: try the same event again later.
            counts.failed_deliveries += 1
            self._push(self._clock.now() + self._plan.redelivery_wait, copy)

    def next_due(self) -> datetime | None:
        """When the earliest queued copy is due (the driver may sleep until then)."""
        with self._lock:
            return self._queue[0][0] if self._queue else None

    def pending(self) -> int:
        with self._lock:
            return len(self._queue)


def _event_id(body: str) -> str:
    """The event's ``id``; a body without one is keyed by its hash (it is still delivered)."""
    try:
        event_id = json.loads(body).get("id")
    except (ValueError, AttributeError):
        event_id = None
    if isinstance(event_id, str) and event_id:
        return event_id
    return "body_" + hashlib.blake2b(body.encode(), digest_size=12).hexdigest()
