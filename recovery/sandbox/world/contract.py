"""The World contract: what the sandbox asks of simulated customers and issuers.

The sandbox drives the real engine; a World only answers for the people and banks around it.
Names, fields and semantics here are fixed, because other worlds (including ones this project does
not ship) plug into it.

Semantics:

- ``subscribers()`` lists everyone simulated. Each has a card on file and a first renewal inside
  the simulated period; renewals repeat every ``interval_days``.
- ``charge(...)`` is called for every charge attempt (the renewal's first automatic attempt and
  every retry) with the card on file, at the attempt's simulated time. A charge the engine's
  network rules refuse never reaches the world.
- ``actions(start, end)`` is called for consecutive, non-overlapping windows in time order and
  returns what customers do in ``[start, end)``, sorted by ``at``: card updates (by the customer or
  the network's card updater), paying an open invoice on session, accepting an offer, cancelling.
- ``message(message)`` is called for each message the engine sends, at its send time.

A world is built by a factory ``make_world(*, seed: int, start: datetime, subscribers: int) ->
World``, named on the command line as ``module:factory``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, Sequence, Union  # noqa: UP035 - the contract is fixed as written


@dataclass(frozen=True)
class Card:
    fingerprint: str  # stable per physical card; a replacement card has a new fingerprint
    brand: str  # "visa" | "mastercard" | "amex" | "discover"
    funding: str  # "credit" | "debit" | "prepaid"
    country: str  # ISO 3166-1 alpha-2
    exp_month: int
    exp_year: int
    last4: str


@dataclass(frozen=True)
class Subscriber:
    id: str  # stable id; the sandbox derives Stripe ids from it
    email: str
    timezone: str  # IANA name, e.g. "America/New_York"
    amount: int  # price per period in minor units
    currency: str  # ISO 4217, lower case
    interval_days: int  # 30 monthly, 365 yearly
    first_renewal_at: datetime  # first renewal inside the simulated period (aware, UTC)
    created_at: datetime  # signup time
    card: Card


@dataclass(frozen=True)
class ChargeResult:
    paid: bool
    failure_code: str | None = None  # Stripe error code: card_declined, expired_card, processing_error, ...
    decline_code: str | None = None  # Stripe decline_code: insufficient_funds, do_not_honor, ...
    advice_code: str | None = None  # try_again_later | do_not_try_again | confirm_card_data
    network_decline_code: str | None = None  # raw issuer code, e.g. "51"
    network_advice_code: str | None = None  # Mastercard merchant advice code, e.g. "03"


@dataclass(frozen=True)
class Offer:
    kind: str  # "discount" | "pause"
    percent_off: int = 0
    months: int = 0


@dataclass(frozen=True)
class Message:
    subscriber_id: str
    invoice_id: str | None
    kind: str  # payment_failed | card_update_request | authentication_required | final_notice | offer | card_expiring | payment_recovered | other
    channel: str  # "email" | "sms"
    sent_at: datetime
    offer: Offer | None = None


@dataclass(frozen=True)
class CardUpdated:
    subscriber_id: str
    at: datetime
    card: Card
    automatic: bool  # True: the network's card updater replaced it, not the customer


@dataclass(frozen=True)
class PaidOnSession:  # the customer paid the open invoice themselves (hosted page, 3-D Secure done)
    subscriber_id: str
    invoice_id: str
    at: datetime


@dataclass(frozen=True)
class OfferAccepted:
    subscriber_id: str
    invoice_id: str | None
    at: datetime
    offer: Offer


@dataclass(frozen=True)
class Cancelled:  # the customer cancels the subscription
    subscriber_id: str
    at: datetime


CustomerAction = Union[CardUpdated, PaidOnSession, OfferAccepted, Cancelled]  # noqa: UP007


class World(Protocol):
    def subscribers(self) -> Sequence[Subscriber]: ...

    def charge(self, subscriber_id: str, invoice_id: str, card_fingerprint: str,
               amount: int, currency: str, at: datetime) -> ChargeResult: ...

    def actions(self, start: datetime, end: datetime) -> Sequence[CustomerAction]: ...

    def message(self, message: Message) -> None: ...
