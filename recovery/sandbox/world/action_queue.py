"""The queue of customer actions a built-in world has planned, released window by window.

Actions are planned ahead (a heap ordered by time) and checked again when released: a customer who
has cancelled does nothing more, an invoice already paid is not paid on session, and the card
updater does not overwrite a card the customer replaced meanwhile.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from recovery.sandbox.world.contract import (
    Cancelled,
    CardUpdated,
    CustomerAction,
    OfferAccepted,
    PaidOnSession,
)
from recovery.sandbox.world.population import CardState, Profile

RETENTION = timedelta(days=120)  # a customer who took an offer does not walk away meanwhile


@dataclass(order=True, slots=True)
class Planned:
    at: datetime
    order: int
    action: CustomerAction = field(compare=False)
    profile: Profile = field(compare=False)
    new_card: CardState | None = field(compare=False, default=None)
    replaces: CardState | None = field(compare=False, default=None)  # updater: only over this card
    reaction: bool = field(compare=False, default=False)  # answers a message or a decline


class ActionQueue:
    def __init__(self, cards: dict[str, CardState]) -> None:
        self._cards = cards
        self._heap: list[Planned] = []
        self._order = 0

    def plan(self, profile: Profile, action: CustomerAction, *, new_card: CardState | None = None,
             replaces: CardState | None = None, reaction: bool = False) -> None:
        self._order += 1
        planned = Planned(action.at, self._order, action, profile, new_card, replaces, reaction)
        heapq.heappush(self._heap, planned)

    def release(self, start: datetime, end: datetime) -> list[CustomerAction]:
        """Actions due before ``end``, stamped no earlier than ``start``, in time order."""
        released: list[CustomerAction] = []
        while self._heap and self._heap[0].at < end:
            planned = heapq.heappop(self._heap)
            if planned.reaction:
                planned.profile.fix_pending = False
            if not self._still_valid(planned):
                continue
            self._apply(planned)
            action = planned.action
            # Something planned for a window already handed out happens at the next chance.
            released.append(action if action.at >= start else replace(action, at=start))
        return released

    def _still_valid(self, planned: Planned) -> bool:
        profile, action = planned.profile, planned.action
        if profile.cancelled:
            return False
        if isinstance(action, PaidOnSession):
            return profile.open_invoice == action.invoice_id
        if isinstance(action, Cancelled):
            retained = profile.retained_until
            return retained is None or action.at >= retained
        if planned.replaces is not None:
            return profile.card is planned.replaces
        return True

    def _apply(self, planned: Planned) -> None:
        profile, action = planned.profile, planned.action
        if isinstance(action, Cancelled):
            profile.cancelled = True
        elif isinstance(action, OfferAccepted):
            profile.retained_until = action.at + RETENTION
        elif isinstance(action, PaidOnSession):
            profile.open_invoice = None
            if profile.problem != "card":  # paying on the hosted page leaves the card as it was
                profile.problem = None
            profile.dunning_messages = 0
        elif isinstance(action, CardUpdated) and planned.new_card is not None:
            self._cards[planned.new_card.card.fingerprint] = planned.new_card
            profile.card = planned.new_card
            profile.problem = None
            if not action.automatic:
                profile.dunning_messages = 0
