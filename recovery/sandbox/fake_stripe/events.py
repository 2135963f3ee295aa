"""Webhook events of the fake Stripe: the event envelope, Stripe's signature, and delivery order.

Events are rendered when they happen (so ``data.object`` is a snapshot, as with Stripe) and queued;
``flush`` signs and hands them to ``deliver`` in order, outside the fake's state lock, so a
receiver that calls the fake back cannot deadlock it. A signature is stamped with the time of
delivery on ``signing_clock``: the receiver judges its age on that same clock (the live sandbox
signs in real time, whatever the speed of its simulated clock).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections import Counter, deque
from collections.abc import Callable, Collection
from typing import Any

from recovery.runtime.clock import Clock

API_VERSION = "2026-10-28.endive"

Deliver = Callable[[str, str], None]


def signature_header(body: str, secret: str, timestamp: int) -> str:
    """``t=<unix>,v1=<hex>``: HMAC-SHA256 of ``"<t>.<body>"`` keyed by the whole ``whsec_``
    string, as Stripe signs (and ``stripe.WebhookSignature.verify_header`` checks)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


class EventOutbox:
    """Renders, queues, signs and delivers events.

    ``enabled_events`` plays the webhook endpoint's setting of that name: other types are not
    rendered at all. ``None`` sends every type the fake emits.
    """

    def __init__(self, clock: Clock, new_id: Callable[[str], str], *, secret: str,
                 deliver: Deliver, enabled_events: Collection[str] | None = None,
                 signing_clock: Clock | None = None) -> None:
        self._clock = clock
        self._signing_clock = signing_clock or clock
        self._new_id = new_id
        self._secret = secret
        self._deliver = deliver
        self._enabled = None if enabled_events is None else frozenset(enabled_events)
        self._pending: deque[str] = deque()
        # Re-entrant: a receiver may call the fake, whose next flush then runs inside this one.
        self._delivery = threading.RLock()
        self.counts: Counter[str] = Counter()

    def emit(self, event_type: str, obj: dict[str, Any], *,
             previous: dict[str, Any] | None = None,
             request: tuple[str | None, str | None] = (None, None)) -> None:
        """Queue one event; ``request`` is (request id, idempotency key) of the API call that
        caused it, or (None, None) for Stripe's own doing (renewals, retries, customers)."""
        if self._enabled is not None and event_type not in self._enabled:
            return
        data: dict[str, Any] = {"object": obj}
        if previous is not None:
            data["previous_attributes"] = previous
        event = {
            "id": self._new_id("evt"), "object": "event", "api_version": API_VERSION,
            "created": int(self._clock.now().timestamp()), "data": data, "livemode": False,
            "pending_webhooks": 1, "request": {"id": request[0], "idempotency_key": request[1]},
            "type": event_type,
        }
        self._pending.append(json.dumps(event, separators=(",", ":")))
        self.counts[event_type] += 1

    def pending(self) -> int:
        return len(self._pending)

    def flush(self) -> int:
        """Deliver every queued event in order; returns how many were delivered."""
        delivered = 0
        with self._delivery:
            while self._pending:
                body = self._pending.popleft()
                signed_at = int(self._signing_clock.now().timestamp())
                header = signature_header(body, self._secret, signed_at)
                try:
                    self._deliver(body, header)
                except BaseException:
                    # Keep it first in line, as Stripe keeps retrying an undelivered event.
                    self._pending.appendleft(body)
                    raise
                delivered += 1
        return delivered
