"""Simulated subscribers of the built-in worlds: who they are and the hidden state behind them.

Each subscriber is drawn from its own generator keyed by (seed, index), so subscriber ``i`` is the
same person whatever the size of the population. Nothing here answers charges or reacts to
messages; it only builds people and cards.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from recovery.sandbox.world.contract import Card, Subscriber
from recovery.sandbox.world.keyed_random import pick, stream, token, unit
from recovery.sandbox.world.params import Market, WorldParams
from recovery.sandbox.world.paydays import PaySchedule, make_schedule


@dataclass(slots=True)
class CardState:
    """A card as the issuer sees it: its funding account's fragility and whether it still works."""

    card: Card
    subscriber_id: str
    issuer: str
    fragility: float  # chance per pay period that the account behind it runs short
    expires_at: datetime  # first instant after the expiry month
    # How the account behind the card lives: "robust" (a buffer), "occasional" (short before some
    # paydays) or "chronic" (a frequent overdrafter: each deposit goes to the overdraft and bills).
    finances: str = "robust"
    abandoned_at: datetime | None = None  # the customer moved banks: the account stays empty
    dead_at: datetime | None = None  # reported lost/stolen, closed or blocked from then on
    dead_code: str | None = None
    successor_known: bool = False  # the network updater holds the replacement (MAC 01)


@dataclass(slots=True)
class Profile:
    """One subscriber and what the world knows about them that the engine does not."""

    subscriber: Subscriber
    market: Market
    schedule: PaySchedule
    card: CardState
    churn_per_month: float
    cards_issued: int = 1
    cancelled: bool = False
    open_invoice: str | None = None
    problem: str | None = None  # funds | card | auth | issuer, from the last failed charge
    dunning_messages: int = 0
    fix_pending: bool = False
    retained_until: datetime | None = None


def build_population(seed: int, start: datetime, count: int,
                     params: WorldParams) -> list[Profile]:
    """``count`` subscribers with cards on file and first renewals inside their first interval."""
    start = start.astimezone(UTC)
    return [_build_profile(seed, start, index, params) for index in range(count)]


def _build_profile(seed: int, start: datetime, index: int, params: WorldParams) -> Profile:
    draw = stream(seed, "subscriber", index)
    market = pick(draw.random(), [(m, m.weight) for m in params.markets])
    timezone = pick(draw.random(), market.timezones)
    subscriber_id = f"sub_{index:06d}"
    schedule = _draw_schedule(draw.random(), draw.random(), draw.random(), timezone, market, params)
    card = _first_card(seed, subscriber_id, start, market, params, draw.random(), draw.random())
    subscriber = _draw_subscriber(draw, subscriber_id, index, start, timezone, market, params,
                                  card.card)
    churn = params.behaviour.monthly_churn * (0.4 + 1.2 * draw.random())
    card.abandoned_at = _bank_switch(seed, subscriber_id, card, start, params)
    return Profile(subscriber, market, schedule, card, churn)


def _bank_switch(seed: int, subscriber_id: str, card: CardState, start: datetime,
                 params: WorldParams) -> datetime | None:
    """When the customer moves their main bank and leaves this debit card's account empty.

    Counted from the start: everyone's card worked at their last renewal before it."""
    if card.card.funding != "debit":
        return None  # credit lines and prepaid cards do not follow the checking account
    rate = params.declines.switch_bank_per_year / 365.0
    days = -math.log(1.0 - unit(seed, "switch-bank", subscriber_id)) / rate
    return start + timedelta(days=days) if days < 730 else None


def _draw_schedule(u_kind: float, u_phase: float, u_hour: float, timezone: str, market: Market,
                   params: WorldParams) -> PaySchedule:
    low, high = params.funds_hours
    offset = low + (high - low) * u_hour
    if u_hour < params.early_deposit_share:
        # Early direct deposit: usable up to two days ahead of the employer's payday.
        offset -= 24.0 + 24.0 * (u_hour / params.early_deposit_share)
    return make_schedule(pick(u_kind, market.paydays), timezone, u_phase, offset)


def _draw_subscriber(draw, subscriber_id: str, index: int, start: datetime, timezone: str,
                     market: Market, params: WorldParams, card: Card) -> Subscriber:
    yearly = draw.random() < params.yearly_share
    monthly_price = pick(draw.random(), params.monthly_prices)
    # Yearly plans are usually priced at ten months ("two months free").
    amount = monthly_price * 10 if yearly else monthly_price
    interval = 365 if yearly else 30
    first_renewal = start + timedelta(seconds=draw.random() * interval * 86_400)
    tenure = 1 + int(draw.random() * (3 if yearly else 24))
    created = first_renewal - timedelta(days=interval * tenure)
    return Subscriber(
        id=subscriber_id, email=f"customer{index}@example.com", timezone=timezone,
        amount=amount, currency=market.currency, interval_days=interval,
        first_renewal_at=first_renewal, created_at=created, card=card,
    )


def _first_card(seed: int, subscriber_id: str, start: datetime, market: Market,
                params: WorldParams, u_brand: float, u_funding: float) -> CardState:
    brand = pick(u_brand, market.brands)
    # Amex and Discover cards are charge/credit products.
    funding = "credit" if brand in ("amex", "discover") else pick(u_funding, market.funding)
    draw = stream(seed, "card", subscriber_id, 1)
    # Cards are issued for three to five years, so remaining validity is spread over four years.
    months_left = int(draw.random() * 48)
    u_kind, u_level = draw.random(), draw.random()
    state = new_card_state(seed, subscriber_id, 1, brand, funding, market, start, months_left,
                           fragility(u_kind, u_level, funding, params))
    state.finances = finances(u_kind, draw.random(), params)  # a later draw: earlier ones kept
    return state


def fragility(u_kind: float, u_level: float, funding: str, params: WorldParams) -> float:
    """Chance per pay period that an account runs short of the subscription's price."""
    mix = params.declines
    if u_kind < mix.fragile_share:
        low, high = mix.fragile_range
        base = low + (high - low) * u_level
    else:
        base = mix.robust_rate
    return min(0.9, base * dict(mix.funding_factor).get(funding, 1.0))


def finances(u_kind: float, u_chronic: float, params: WorldParams) -> str:
    """robust | occasional | chronic, from the same ``u_kind`` that decided the fragility."""
    mix = params.declines
    if u_kind >= mix.fragile_share:
        return "robust"
    return "chronic" if u_chronic < mix.chronic_share else "occasional"


def new_card_state(seed: int, subscriber_id: str, number: int, brand: str, funding: str,
                   market: Market, now: datetime, months_left: int, fragile: float,
                   fingerprint: str | None = None, kind: str = "robust",
                   abandoned_at: datetime | None = None) -> CardState:
    """A card valid through the month ``months_left`` after ``now``'s month."""
    draw = stream(seed, "card-details", subscriber_id, number)
    exp_index = now.year * 12 + now.month - 1 + months_left
    exp_year, exp_month0 = divmod(exp_index, 12)
    card = Card(
        fingerprint=fingerprint or token(seed, "fingerprint", subscriber_id, number),
        brand=brand, funding=funding, country=market.country,
        exp_month=exp_month0 + 1, exp_year=exp_year, last4=f"{int(draw.random() * 10_000):04d}",
    )
    issuer = f"{market.country}-{brand}-{int(draw.random() * 12)}"
    return CardState(card, subscriber_id, issuer, fragile, month_after(exp_year, exp_month0 + 1),
                     finances=kind, abandoned_at=abandoned_at)


def month_after(year: int, month: int) -> datetime:
    """The first instant after a card's expiry month (cards work through its last day)."""
    return datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)


def renewed_card(seed: int, profile: Profile, old: CardState, now: datetime,
                 same_number: bool) -> CardState:
    """The issuer's renewal of ``old``: three or four years more, usually on the same number."""
    profile.cards_issued += 1
    number = profile.cards_issued
    draw = stream(seed, "renewal", profile.subscriber.id, number)
    card = old.card
    exp_index = card.exp_year * 12 + card.exp_month - 1 + 12 * (3 + int(draw.random() * 2))
    months_left = max(exp_index - (now.year * 12 + now.month - 1), 1)
    return new_card_state(seed, profile.subscriber.id, number, card.brand, card.funding,
                          profile.market, now, months_left, old.fragility,
                          fingerprint=card.fingerprint if same_number else None,
                          kind=old.finances, abandoned_at=old.abandoned_at)


def switched_card(seed: int, profile: Profile, now: datetime, params: WorldParams) -> CardState:
    """Another card the customer enters: a fresh draw, from an account that has money more often."""
    profile.cards_issued += 1
    number = profile.cards_issued
    draw = stream(seed, "switch", profile.subscriber.id, number)
    market = profile.market
    brand = pick(draw.random(), market.brands)
    funding = "credit" if brand in ("amex", "discover") else pick(draw.random(), market.funding)
    # Someone who just chose which card to give us picks one they expect to work: never their
    # overdrawn account.
    u_kind = draw.random()
    fragile = 0.5 * fragility(u_kind, draw.random(), funding, params)
    kind = "robust" if u_kind >= params.declines.fragile_share else "occasional"
    return new_card_state(seed, profile.subscriber.id, number, brand, funding, market, now,
                          12 + int(draw.random() * 48), fragile, kind=kind)
