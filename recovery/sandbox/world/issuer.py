"""The issuers of the built-in worlds: answer one charge attempt from the card's hidden state.

Outcomes come from state, not from a fixed chance per attempt: an account short of funds stays
short until the customer's next payday, a risk hold fades with time, an expired or dead card never
works. Only small risk declines are drawn per attempt, keyed by the attempt's minute so the same
charge at the same moment always gets the same answer.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from recovery.sandbox.world.contract import Card, ChargeResult
from recovery.sandbox.world.decline_codes import (
    PAID,
    auth_required,
    expired,
    hard,
    issuer_unavailable,
    processing_error,
    risk_decline,
    short_of_funds,
    velocity,
)
from recovery.sandbox.world.funds import FundsCalendar
from recovery.sandbox.world.keyed_random import lognormal_hours, pick, unit, units
from recovery.sandbox.world.params import WorldParams
from recovery.sandbox.world.paydays import zone
from recovery.sandbox.world.population import CardState, Profile

DUPLICATE_WINDOW = timedelta(minutes=10)
FATIGUE_WINDOW = timedelta(hours=72)
DAY = timedelta(hours=24)
HISTORY_WINDOW = timedelta(days=7)


@dataclass(slots=True)
class InvoiceDraw:
    """What the issuer decided about one invoice on one card at its first attempt."""

    first_at: datetime
    hold_hours: float | None  # risk hold time constant; None: no hold; inf: never lifts
    hold_code: str
    hold_mac: str | None
    auth: bool


class Issuers:
    """All issuers of one world; remembers attempts per card to apply velocity and fatigue."""

    def __init__(self, seed: int, params: WorldParams, funds: FundsCalendar | None = None) -> None:
        self._seed = seed
        self._params = params
        self._mix = params.declines
        self._funds = funds or FundsCalendar(seed, params)
        self._history: dict[str, deque[tuple[datetime, bool]]] = {}
        self._invoices: dict[tuple[str, str], InvoiceDraw] = {}
        self._last: dict[tuple[str, str], tuple[datetime, ChargeResult]] = {}
        self._outages: dict[tuple[str, int], bool] = {}

    def charge(self, profile: Profile, state: CardState, invoice_id: str, amount: int,
               at: datetime) -> ChargeResult:
        key = (invoice_id, state.card.fingerprint)
        previous = self._last.get(key)
        if previous and timedelta(0) <= at - previous[0] < DUPLICATE_WINDOW:
            return previous[1]  # a duplicate within minutes, nothing changed: same answer
        result = self._decide(profile, state, invoice_id, amount, at, commit=True)
        self._remember(state.card.fingerprint, at, result)
        self._last[key] = (at, result)
        return result

    def would_pay(self, profile: Profile, state: CardState, invoice_id: str, amount: int,
                  at: datetime) -> bool:
        """Whether ``charge`` at ``at`` would succeed, given everything charged so far, without
        remembering anything: no attempt history, no invoice draw kept, no card killed."""
        previous = self._last.get((invoice_id, state.card.fingerprint))
        if previous and timedelta(0) <= at - previous[0] < DUPLICATE_WINDOW:
            return previous[1].paid
        return self._decide(profile, state, invoice_id, amount, at, commit=False).paid

    def _decide(self, profile: Profile, state: CardState, invoice_id: str, amount: int,
                at: datetime, *, commit: bool) -> ChargeResult:
        card = state.card
        # One hash per attempt: processing error, hold and risk draws for this card and minute.
        chance = units(self._seed, 3, "attempt", card.fingerprint, int(at.timestamp() // 60))
        if chance[0] < self._mix.processing_error:
            return processing_error()
        if at >= state.expires_at:
            return expired(card, has_new_card=state.dead_code is None)
        if state.dead_at is not None and at >= state.dead_at:
            return hard(card, state.dead_code or "invalid_account", state.successor_known)
        draw, kill = self._invoice_draw(profile, state, invoice_id, at, commit)
        if kill is not None:
            return hard(card, kill, state.successor_known)
        if state.dead_at is not None and at >= state.dead_at:
            return hard(card, state.dead_code or "invalid_account", state.successor_known)
        if draw.auth:
            return auth_required(card)
        if self._issuer_down(state.issuer, at):
            return issuer_unavailable(card)
        recent = self._recent(card.fingerprint, at) if commit \
            else self._recent_view(card.fingerprint, at)
        if sum(1 for moment, _ in recent if at - moment < DAY) >= self._mix.velocity_attempts - 1:
            return velocity(card)
        funds_back = self._funds.short_until(profile, state, amount, at)
        if funds_back is not None:
            over_limit = card.funding == "credit" and unit(
                self._seed, "over-limit", card.fingerprint, funds_back.isoformat()
            ) < self._mix.credit_velocity_share
            if not over_limit and unit(self._seed, "masks-nsf", state.issuer) \
                    < self._mix.nsf_as_do_not_honor:
                # This issuer does not say why: a shortfall comes back as a plain 05.
                return risk_decline(card, draw.hold_code, None)
            return short_of_funds(card, at, funds_back, over_limit)
        return self._risk_answer(profile, card, draw, recent, at, chance)

    def _risk_answer(self, profile: Profile, card: Card, draw: InvoiceDraw,
                     recent: Iterable[tuple[datetime, bool]], at: datetime,
                     chance: list[float]) -> ChargeResult:
        local = at.astimezone(zone(profile.subscriber.timezone))
        risk = self._risk_factor(local, card.funding, recent, at)
        if draw.hold_hours is not None:
            elapsed = (at - draw.first_at).total_seconds() / 3600
            # The first attempt is the one the hold was drawn for, and a permanent block stays;
            # other holds fade, faster at the issuer's lenient hours.
            if elapsed <= 0 or math.isinf(draw.hold_hours):
                fading = 2.0
            else:
                fading = math.exp(-elapsed / draw.hold_hours) * risk
            if chance[1] < fading:
                return risk_decline(card, draw.hold_code, draw.hold_mac)
        if chance[2] < self._mix.noise * risk:
            return risk_decline(card, "generic_decline", None)
        return PAID

    def _issuer_down(self, issuer: str, at: datetime) -> bool:
        key = (issuer, int(at.timestamp() // 3600))
        down = self._outages.get(key)
        if down is None:
            down = unit(self._seed, "outage", *key) < self._mix.outage_per_issuer_hour
            self._outages[key] = down
        return down

    def _invoice_draw(self, profile: Profile, state: CardState, invoice_id: str,
                      at: datetime, commit: bool) -> tuple[InvoiceDraw, str | None]:
        """The invoice's draw, and the hard code if this first attempt kills the card (only
        when not committing: a committed kill is written on the card and read from there)."""
        key = (invoice_id, state.card.fingerprint)
        draw = self._invoices.get(key)
        if draw is not None:
            return draw, None
        draw, kill = self._new_invoice_draw(profile, state, invoice_id, at)
        if not commit:
            return draw, kill
        self._invoices[key] = draw
        if kill is not None:
            # Issuer turns the card down for good from this attempt on (fraud flag, revoked
            # mandate, closed or restricted account): every later charge on it fails the same way.
            state.dead_at, state.dead_code = at, kill
        return draw, None

    def _new_invoice_draw(self, profile: Profile, state: CardState, invoice_id: str,
                          at: datetime) -> tuple[InvoiceDraw, str | None]:
        mix, fp = self._mix, state.card.fingerprint
        u = units(self._seed, 8, "invoice", invoice_id, fp)
        kill = pick(u[1], mix.hard_codes) if u[0] < mix.hard and state.dead_at is None else None
        hold_hours = None
        risk = (1.5 if state.card.funding == "prepaid" else 1.0) * (
            1.2 if profile.market.country != "US" else 1.0)
        if u[2] < mix.hold * risk:
            permanent = u[3] < mix.hold_permanent
            fades = lognormal_hours(u[4], mix.hold_median_hours, 0.8)
            hold_hours = math.inf if permanent else fades
        code = "do_not_honor" if u[5] < 0.6 else "generic_decline"
        mac = _hold_mac(state.card.brand, hold_hours, u[6])
        auth = profile.market.sca and u[7] < mix.auth
        return InvoiceDraw(at, hold_hours, code, mac, auth), kill

    def _risk_factor(self, local: datetime, funding: str, recent, at: datetime) -> float:
        hours = self._params.hours
        factor = hours.risk_by_local_hour[local.hour]
        if local.weekday() >= 5 and funding in ("debit", "prepaid"):
            factor *= hours.weekend_debit
        # Issuers score a run of recent declines as risk (velocity/fraud models): each decline on
        # the card in the last three days raises the chance of another.
        declines = sum(1 for moment, no in recent if no and at - moment < FATIGUE_WINDOW)
        return factor * (1.0 + 0.35 * declines)

    def _recent(self, fingerprint: str, at: datetime) -> deque[tuple[datetime, bool]]:
        history = self._history.setdefault(fingerprint, deque())
        while history and at - history[0][0] > HISTORY_WINDOW:
            history.popleft()
        return history

    def _recent_view(self, fingerprint: str, at: datetime) -> list[tuple[datetime, bool]]:
        """The attempts ``_recent`` would keep at ``at``, without pruning the history."""
        return [(moment, declined) for moment, declined in self._history.get(fingerprint, ())
                if moment <= at and at - moment <= HISTORY_WINDOW]

    def _remember(self, fingerprint: str, at: datetime, result: ChargeResult) -> None:
        self._recent(fingerprint, at).append((at, not result.paid))


def _hold_mac(brand: str, hold_hours: float | None, u: float) -> str | None:
    if brand != "mastercard" or hold_hours is None:
        return None
    if math.isinf(hold_hours):
        return "03" if u < 0.5 else None  # the issuer sometimes says outright: do not retry
    return "02" if u < 0.3 else None  # cannot approve now, try later
