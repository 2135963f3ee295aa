"""What both sandbox drivers do with the World's people: put them in the fake Stripe, keep their
renewal calendar, and turn their actions into what Stripe would see."""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from recovery.actions.offer import accept_offer
from recovery.offers.records import offer_to_accept
from recovery.sandbox.fake_stripe.fake import FakeStripe
from recovery.sandbox.world.checks import WorldContractError, check_subscribers
from recovery.sandbox.world.contract import (
    Cancelled,
    CardUpdated,
    OfferAccepted,
    PaidOnSession,
    World,
)
from recovery.wiring import Services

log = logging.getLogger("recovery.sandbox")


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


def apply_customer_action(fake: FakeStripe, action,
                          accept_offer: Callable[[OfferAccepted], object] | None = None) -> None:
    """Deliver one World action the way Stripe would learn of it; an accepted offer goes to
    ``accept_offer`` (``accept_world_offer``: what a click on the offer's link does)."""
    if isinstance(action, CardUpdated):
        fake.update_card(action.subscriber_id, action.card, action.automatic)
    elif isinstance(action, PaidOnSession):
        fake.pay_on_session(action.subscriber_id, action.invoice_id)
    elif isinstance(action, Cancelled):
        fake.cancel_by_customer(action.subscriber_id)
    elif isinstance(action, OfferAccepted):
        if accept_offer is not None:
            accept_offer(action)
    else:
        raise WorldContractError(f"unknown customer action {type(action).__name__}: {action!r}")


def accept_world_offer(services: Services, fake: FakeStripe, action: OfferAccepted) -> str | None:
    """A simulated customer accepted an offer: accept the offer shown for their open case (for
    the invoice they name, else their newest) exactly as the offer link does; returns its status
    afterwards, or None (logged) when the engine shows them no offer."""
    account_id = services.settings.account_id
    customer_id = fake.ids_for(action.subscriber_id).customer_id
    with services.sessions() as session:
        offer = offer_to_accept(session, account_id, customer_id, action.invoice_id)
    if offer is None or services.steps is None:
        log.info("a customer accepted an offer the engine did not show them; skipped",
                 extra={"subscriber": action.subscriber_id, "invoice": action.invoice_id})
        return None
    return accept_offer(services.steps, account_id, offer.id, action.at,
                        worker_id=services.worker_id,
                        max_tries=services.settings.action_max_tries)
