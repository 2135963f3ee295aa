"""A tiny World for sandbox tests: a few subscribers renewing daily on one card each, whose
issuer declines with insufficient funds until a set number of attempts, and who never act.

Renewing every day makes Stripe's first attempt on the next invoice collide with the engine's
retries on the same card, so the network rules have to refuse some of them. Every call the
sandbox makes is recorded in ``CALLS`` (by seed), for the test to compare with the engine.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from recovery.sandbox.world.contract import Card, ChargeResult, Message, Subscriber

CALLS: dict[int, WorldCalls] = {}


@dataclass
class WorldCalls:
    charges: list[tuple[str, str, str, datetime]] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    windows: list[tuple[datetime, datetime]] = field(default_factory=list)


class DailyWorld:
    def __init__(self, seed: int, start: datetime, subscribers: int) -> None:
        self.calls = CALLS.setdefault(seed, WorldCalls())
        self._subscribers = [
            Subscriber(id=f"s{n}", email=f"s{n}@example.com", timezone="UTC", amount=1500,
                       currency="usd", interval_days=1,
                       first_renewal_at=start + timedelta(hours=10 + n), created_at=start,
                       card=Card(f"fp_s{n}", "visa", "debit", "US", 12, 2030, "4242"))
            for n in range(subscribers)]
        self._attempts: dict[str, int] = defaultdict(int)

    def subscribers(self):
        return self._subscribers

    def charge(self, subscriber_id, invoice_id, card_fingerprint, amount, currency, at):
        self.calls.charges.append((subscriber_id, invoice_id, card_fingerprint, at))
        self._attempts[invoice_id] += 1
        if self._attempts[invoice_id] >= 3:
            return ChargeResult(paid=True)
        return ChargeResult(paid=False, failure_code="card_declined",
                            decline_code="insufficient_funds", advice_code="try_again_later",
                            network_decline_code="51")

    def actions(self, start, end):
        self.calls.windows.append((start, end))
        return []

    def message(self, message: Message) -> None:
        self.calls.messages.append(message)


def make_world(*, seed: int, start: datetime, subscribers: int) -> DailyWorld:
    return DailyWorld(seed, start, subscribers)
