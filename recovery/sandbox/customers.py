"""What both sandbox drivers do with the World's people: put them in the fake Stripe, keep their
renewal calendar, and turn their actions into what Stripe would see."""

from __future__ import annotations

import heapq
from datetime import datetime, timedelta

from recovery.sandbox.fake_stripe.fake import FakeStripe
from recovery.sandbox.world.checks import WorldContractError, check_subscribers
from recovery.sandbox.world.contract import (
    Cancelled,
    CardUpdated,
    OfferAccepted,
    PaidOnSession,
    World,
)


class Renewals:
    """Every subscriber's next renewal, earliest first."""

    def __init__(self, world: World, fake: FakeStripe) -> None:
        self.timezones: dict[str, str] = {}  # Stripe customer id -> IANA timezone
        self._heap: list[tuple[datetime, str, int]] = []
        for sub in check_subscribers(world.subscribers()):
            ids = fake.add_subscriber(sub)
            self.timezones[ids.customer_id] = sub.timezone
            self._heap.append((sub.first_renewal_at, sub.id, sub.interval_days))
        heapq.heapify(self._heap)
        self.fake = fake
        self.invoices = 0

    def due_before(self, moment: datetime) -> list[tuple[datetime, str, int]]:
        due = []
        while self._heap and self._heap[0][0] < moment:
            due.append(heapq.heappop(self._heap))
        return due

    def renew(self, at: datetime, subscriber_id: str, interval_days: int) -> None:
        """Stripe's renewal; the next one is booked unless the subscription has ended."""
        if self.fake.renew(subscriber_id) is not None:
            self.invoices += 1
            heapq.heappush(self._heap, (at + timedelta(days=interval_days), subscriber_id,
                                        interval_days))

    def timezone_of(self, customer_id: str | None) -> str:
        return self.timezones.get(customer_id or "", "UTC")


def apply_customer_action(fake: FakeStripe, action) -> None:
    """Deliver one World action the way Stripe would learn of it."""
    if isinstance(action, CardUpdated):
        fake.update_card(action.subscriber_id, action.card, action.automatic)
    elif isinstance(action, PaidOnSession):
        fake.pay_on_session(action.subscriber_id, action.invoice_id)
    elif isinstance(action, Cancelled):
        fake.cancel_by_customer(action.subscriber_id)
    elif isinstance(action, OfferAccepted):
        # The engine makes no offers yet, so none of its offers can be accepted: Stripe sees
        # nothing change.
        return
    else:
        raise WorldContractError(f"unknown customer action {type(action).__name__}: {action!r}")
