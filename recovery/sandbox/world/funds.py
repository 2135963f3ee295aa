"""Account balances of simulated customers, reduced to one question: is it short right now?

Three kinds of account (``CardState.finances``):

- robust and occasional accounts run short late in some pay periods and recover when the next
  wages land; a shortfall sometimes survives a payday because other bills took the money;
- chronic accounts (frequent overdrafters) are short in most pay periods except for a short
  window after each deposit, before the overdraft, its fees and the bills take the money back.

Any account without a buffer (occasional or chronic) also goes through spells of lost income,
weeks to months long, during which no payday helps; and a debit card whose owner moved banks
draws on an account that no longer gets any money. Every answer is a pure function of (seed,
card or subscriber, pay period or month), so it never depends on who else was charged or asked.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from recovery.sandbox.world.keyed_random import lognormal_hours, unit, units
from recovery.sandbox.world.params import WorldParams
from recovery.sandbox.world.paydays import funds_at, slot_at
from recovery.sandbox.world.population import CardState, Profile

CHAIN_DEPTH = 4  # a shortfall can carry over at most four paydays
# A shortfall sometimes ends before payday: money moved from savings or other income. A minority
# of cases, so that payday stays the main way funds come back.
TOP_UP = 0.2
MEDIAN_PRICE = 2900  # minor units; the price at which fragility applies unscaled
WINDOW_SIGMA = 0.8  # spread of a chronic account's usable window after a deposit
MONTH_SECONDS = 30.4375 * 86_400  # spells of lost income start in calendar-free 30.4-day months
DISTRESS_LOOKBACK = 36  # months: a spell longer than three years is cut there
SOLVENT_HORIZON = timedelta(days=180)  # how far ahead solvent_from looks


class FundsCalendar:
    def __init__(self, seed: int, params: WorldParams) -> None:
        mix = params.declines
        self._seed = seed
        self._mix = mix
        self._chain = mix.chain
        # A log-normal with the published median and mean: mean = median * exp(sigma^2 / 2).
        self._distress_sigma = math.sqrt(2 * math.log(mix.distress_mean_weeks
                                                      / mix.distress_median_weeks))
        self._cache: dict[tuple[str, int, int], float | None] = {}
        self._spells: dict[tuple[str, int], tuple[datetime, datetime] | None] = {}

    def short_until(self, profile: Profile, state: CardState, amount: int,
                    at: datetime) -> datetime | None:
        """When the issuer expects money back if the account cannot pay ``amount`` at ``at`` (the
        next wages: the issuer knows paydays, not why the money is gone); None if it can now."""
        schedule = profile.schedule
        slot = slot_at(schedule, at)
        start, end = funds_at(schedule, slot), funds_at(schedule, slot + 1)
        return end if self._short(state, amount, at, slot, start, end) else None

    def solvent_from(self, profile: Profile, state: CardState, amount: int,
                     at: datetime) -> datetime | None:
        """The first moment from ``at`` on when the account can pay ``amount`` (None: not within
        half a year). Used for customers who pay by hand once they have the money."""
        schedule, moment = profile.schedule, at
        while moment < at + SOLVENT_HORIZON:
            slot = slot_at(schedule, moment)
            start, end = funds_at(schedule, slot), funds_at(schedule, slot + 1)
            if not self._short(state, amount, moment, slot, start, end):
                return moment
            moment = max(end, self._distress_end(state, moment) or end)
        return None

    def short_from(self, state: CardState, slot: int, amount: int) -> float | None:
        """Where in pay period ``slot`` the account runs short (0 = from payday on), or None."""
        key = (state.card.fingerprint, slot, amount)
        if key not in self._cache:
            chance = _chance(state.fragility, amount)
            carry = min(0.8, self._chain + 0.6 * state.fragility)
            self._cache[key] = self._short_from(state.card.fingerprint, chance, carry, slot,
                                                CHAIN_DEPTH)
        return self._cache[key]

    def _short(self, state: CardState, amount: int, at: datetime, slot: int, start: datetime,
               end: datetime) -> bool:
        if self._distress_end(state, at) is not None or self.abandoned(state, at):
            return True
        if state.finances == "chronic":
            return self._chronic_short(state.card.fingerprint, slot, start, at)
        fraction = self.short_from(state, slot, amount)
        if fraction is None or at < start + (end - start) * fraction:
            return False
        return at < start + (end - start) * self._topped_up(state.card.fingerprint, slot, fraction)

    @staticmethod
    def abandoned(state: CardState, at: datetime) -> bool:
        """The customer has moved banks: this card's account no longer gets any money."""
        return state.abandoned_at is not None and at >= state.abandoned_at

    def _chronic_short(self, fingerprint: str, slot: int, start: datetime, at: datetime) -> bool:
        short, when = units(self._seed, 2, "chronic", fingerprint, slot)
        if short >= self._mix.chronic_rate:
            return False  # a better period: overtime, a refund, a smaller bill
        window = lognormal_hours(when, self._mix.chronic_window_hours, WINDOW_SIGMA)
        return at >= start + timedelta(hours=window)

    def _distress_end(self, state: CardState, at: datetime) -> datetime | None:
        """When the customer's current spell of lost income ends, or None if not in one."""
        if state.finances == "robust":
            return None  # a buffer carries the subscription through
        month = int(at.timestamp() // MONTH_SECONDS)
        for start_month in range(month, month - DISTRESS_LOOKBACK, -1):
            spell = self._spell(state.subscriber_id, start_month)
            if spell is not None and spell[0] <= at < spell[1]:
                return spell[1]
        return None

    def _spell(self, subscriber_id: str, month: int) -> tuple[datetime, datetime] | None:
        key = (subscriber_id, month)
        if key not in self._spells:
            starts, when, length = units(self._seed, 3, "distress", subscriber_id, month)
            spell = None
            if starts < self._mix.distress_per_month:
                begin = datetime.fromtimestamp((month + when) * MONTH_SECONDS, UTC)
                weeks = lognormal_hours(length, self._mix.distress_median_weeks,
                                        self._distress_sigma)
                spell = (begin, begin + timedelta(weeks=weeks))
            self._spells[key] = spell
        return self._spells[key]

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
