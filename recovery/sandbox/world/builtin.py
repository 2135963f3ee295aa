"""The worlds shipped with the sandbox: seeded, reproducible customers and issuers behind the World
contract (``recovery.sandbox.world``). It answers charges and plans customer actions; it never
looks at the engine's database or clock.

Two presets share the machinery and differ in paydays, decline mix, card updater reach and issuer
hour effects, so that retry timing learned on one can be checked on the other:

    make_world            recovery.sandbox.world.builtin:make_world
    make_alternate_world  recovery.sandbox.world.builtin:make_alternate_world

Outcomes follow hidden state (balances that refill at paydays, risk holds that fade, cards that
expire or are reissued) rather than a fixed chance per attempt; see ``world_issuer`` and
``world_customers``. Every random choice is a hash of the seed and the ids it is about.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from recovery.sandbox.world.action_queue import ActionQueue
from recovery.sandbox.world.contract import (
    ChargeResult,
    CustomerAction,
    Message,
    Subscriber,
)
from recovery.sandbox.world.customers import Customers
from recovery.sandbox.world.funds import FundsCalendar
from recovery.sandbox.world.issuer import Issuers
from recovery.sandbox.world.params import ALTERNATE, DEFAULT, WorldParams
from recovery.sandbox.world.paydays import paydays_between
from recovery.sandbox.world.population import CardState, build_population

# A card the world never issued to this subscriber: the issuer finds no such account.
UNKNOWN_CARD = ChargeResult(paid=False, failure_code="card_declined",
                            decline_code="invalid_account", advice_code="do_not_try_again",
                            network_decline_code="14")


class BuiltinWorld:
    """Simulated subscribers, their issuers and their reactions, for one seed and preset."""

    def __init__(self, *, seed: int, start: datetime, subscribers: int,
                 params: WorldParams) -> None:
        if start.tzinfo is None:
            raise ValueError("the world needs an aware start time")
        if subscribers < 0:
            raise ValueError("subscribers must not be negative")
        self.params = params
        profiles = build_population(seed, start, subscribers, params)
        self._profiles = {profile.subscriber.id: profile for profile in profiles}
        self._subscribers = tuple(profile.subscriber for profile in profiles)
        self._cards: dict[str, CardState] = {p.card.card.fingerprint: p.card for p in profiles}
        funds = FundsCalendar(seed, params)  # one calendar: issuers and customers agree
        self._issuers = Issuers(seed, params, funds)
        self._queue = ActionQueue(self._cards)
        self._customers = Customers(seed, params, self._queue, funds)
        for profile in profiles:
            self._customers.plan_lifecycle(profile, start)

    def subscribers(self) -> Sequence[Subscriber]:
        return self._subscribers

    def charge(self, subscriber_id: str, invoice_id: str, card_fingerprint: str,
               amount: int, currency: str, at: datetime) -> ChargeResult:
        profile = self._profiles[subscriber_id]
        state = self._cards.get(card_fingerprint)
        if state is None or state.subscriber_id != subscriber_id:
            return UNKNOWN_CARD
        result = self._issuers.charge(profile, state, invoice_id, amount, at)
        self._customers.after_charge(profile, invoice_id, result, at)
        return result

    def would_succeed(self, subscriber_id: str, invoice_id: str, card_fingerprint: str,
                      amount: int, currency: str, at: datetime) -> bool:
        """Whether ``charge`` with these arguments at ``at`` would succeed, given every charge
        made so far, without changing anything: no attempt is recorded, no invoice draw kept,
        no card killed, no customer told. A look at the world's future for an oracle, not part
        of the World contract."""
        profile = self._profiles[subscriber_id]
        state = self._cards.get(card_fingerprint)
        if state is None or state.subscriber_id != subscriber_id:
            return False
        return self._issuers.would_pay(profile, state, invoice_id, amount, at)

    def actions(self, start: datetime, end: datetime) -> Sequence[CustomerAction]:
        return self._queue.release(start, end)

    def message(self, message: Message) -> None:
        self._customers.on_message(self._profiles[message.subscriber_id], message)

    def paydays(self, subscriber_id: str, start: datetime, end: datetime) -> list[datetime]:
        """When this subscriber's wages become spendable in ``[start, end)`` (for tests and
        benchmarks that check what a strategy learned)."""
        return paydays_between(self._profiles[subscriber_id].schedule, start, end)


def make_world(*, seed: int, start: datetime, subscribers: int) -> BuiltinWorld:
    """The default world: mostly US customers paid weekly, biweekly on Fridays, semimonthly or
    monthly; UK and euro-area customers paid at the end of the month."""
    return BuiltinWorld(seed=seed, start=start, subscribers=subscribers, params=DEFAULT)


def make_alternate_world(*, seed: int, start: datetime, subscribers: int) -> BuiltinWorld:
    """The alternate world: Thursday and month-start paydays, later funds, more risk holds and
    authentication requests, weaker updater reach, an issuer hour profile peaking mid-afternoon."""
    return BuiltinWorld(seed=seed, start=start, subscribers=subscribers, params=ALTERNATE)
