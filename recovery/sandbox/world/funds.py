"""Account balances of simulated customers, reduced to one question: is it short right now?

A fragile account runs short late in some pay periods and recovers when the next wages land; a
shortfall sometimes survives a payday because other bills took the money. Every answer is a pure
function of (seed, card, pay period), so it never depends on who else was charged.
"""

from __future__ import annotations

import math
from datetime import datetime

from recovery.sandbox.world.keyed_random import unit, units
from recovery.sandbox.world.params import WorldParams
from recovery.sandbox.world.paydays import funds_at, slot_at
from recovery.sandbox.world.population import CardState, Profile

CHAIN_DEPTH = 4  # a shortfall can carry over at most four paydays
# A shortfall sometimes ends before payday: money moved from savings or other income. A minority
# of cases, so that payday stays the main way funds come back.
TOP_UP = 0.2
MEDIAN_PRICE = 2900  # minor units; the price at which fragility applies unscaled


class FundsCalendar:
    def __init__(self, seed: int, params: WorldParams) -> None:
        self._seed = seed
        self._chain = params.declines.chain
        self._cache: dict[tuple[str, int, int], float | None] = {}

    def short_until(self, profile: Profile, state: CardState, amount: int,
                    at: datetime) -> datetime | None:
        """When the account can next pay ``amount`` if it cannot at ``at``; None if it can now."""
        schedule = profile.schedule
        slot = slot_at(schedule, at)
        start, end = funds_at(schedule, slot), funds_at(schedule, slot + 1)
        fraction = self.short_from(state, slot, amount)
        if fraction is None or at < start + (end - start) * fraction:
            return None
        if at >= start + (end - start) * self._topped_up(state.card.fingerprint, slot, fraction):
            return None
        return end  # the issuer can only expect money back with the next wages

    def short_from(self, state: CardState, slot: int, amount: int) -> float | None:
        """Where in pay period ``slot`` the account runs short (0 = from payday on), or None."""
        key = (state.card.fingerprint, slot, amount)
        if key not in self._cache:
            chance = _chance(state.fragility, amount)
            carry = min(0.8, self._chain + 0.6 * state.fragility)
            self._cache[key] = self._short_from(state.card.fingerprint, chance, carry, slot,
                                                CHAIN_DEPTH)
        return self._cache[key]

    def _topped_up(self, fingerprint: str, slot: int, fraction: float) -> float:
        """Where in the period money arrives before payday (a transfer, side income); 1 = never."""
        happens, when = units(self._seed, 2, "top-up", fingerprint, slot)
        if happens < TOP_UP:
            return fraction + (1.0 - fraction) * when
        return 1.0

    def _short_from(self, fingerprint: str, chance: float, carry: float, slot: int,
                    depth: int) -> float | None:
        if depth > 0 and unit(self._seed, "chain", fingerprint, slot - 1) < carry \
                and self._short_from(fingerprint, chance, carry, slot - 1, depth - 1) is not None:
            return 0.0
        if unit(self._seed, "short", fingerprint, slot) < chance:
            # Spending drains the account through the period: shortfalls start late more often
            # than early (density rising linearly across the period).
            return math.sqrt(unit(self._seed, "when", fingerprint, slot))
        return None


def _chance(fragility: float, amount: int) -> float:
    # Dearer plans are more likely to exceed what is left, but only mildly: the balance matters
    # far more than the price.
    return min(0.95, fragility * (max(amount, 100) / MEDIAN_PRICE) ** 0.25)
