"""Pre-dunning: the cards on file that expire soon, found from what the engine knows.

Two sources: the card each charge attempt reported (its expiry, and the case's customer), kept
only while that card is still the one the customer's latest case would charge and that case's
subscription was not canceled; and Stripe's ``customer.source.expiring`` events in the inbox
(sent at the start of the month a card expires in). A card is due for its notice from
``card_expiring_days_before`` days before it expires (the end of its expiry month) until then.

Read-only: the notices themselves are written by the sender (``actions.card_expiring``), one per
card and expiry (its message id says which).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlmodel import Session

from models import Account, CaseStatus, ChargeAttempt, InboxStatus, RecoveryCase, WebhookEvent
from recovery.rules.communication import CommunicationPolicy
from webhooks.facts import CardExpiring
from webhooks.parse import ParseError, parse_event

log = logging.getLogger("recovery.engine")
EXPIRING_EVENT = "customer.source.expiring"
LOOKAHEAD = timedelta(days=62)  # the policy's limit (60 days) and a month boundary
CommunicationFor = Callable[[Session, str], CommunicationPolicy]


@dataclass(frozen=True)
class ExpiringCard:
    account_id: str
    customer_id: str
    card_key: str  # the card's fingerprint, or its payment method id when Stripe gave none
    exp_month: int
    exp_year: int
    brand: str | None = None
    last4: str | None = None
    timezone: str = "UTC"

    @property
    def expires_at(self) -> datetime:
        """The first instant the card no longer works: the start of the month after its expiry
        month (UTC; a day's difference in the customer's zone does not change the notice)."""
        year, month = divmod(self.exp_year * 12 + self.exp_month, 12)
        return datetime(year, month + 1, 1, tzinfo=UTC)

    @property
    def notice_key(self) -> str:
        """Names this card's notice for this expiry: the same on every sweep."""
        raw = f"{self.account_id}|{self.customer_id}|{self.card_key}|" \
              f"{self.exp_year:04d}-{self.exp_month:02d}"
        return hashlib.sha256(raw.encode()).hexdigest()[:32]


def expiring_cards(session: Session, now: datetime,
                   communication_for: CommunicationFor) -> list[ExpiringCard]:
    """Every card on file whose notice is due at ``now`` under its account's policy."""
    found: dict[tuple, ExpiringCard] = {}
    for card in _from_attempts(session, now) + _from_events(session, now):
        key = (card.account_id, card.customer_id, card.card_key, card.exp_year, card.exp_month)
        known = found.get(key)
        if known is None or (known.last4 is None and card.last4 is not None):
            found[key] = card
    due, policies = [], {}
    for card in found.values():
        if card.account_id not in policies:
            policies[card.account_id] = communication_for(session, card.account_id)
        policy = policies[card.account_id]
        days = policy.card_expiring_days_before
        if policy.enabled and days > 0 and \
                card.expires_at - timedelta(days=days) <= now < card.expires_at:
            due.append(card)
    return sorted(due, key=lambda c: (c.account_id, c.customer_id, c.card_key))


def _months_ahead(now: datetime) -> tuple[int, int]:
    """The expiry months (as year * 12 + month - 1) whose end falls in the look-ahead."""
    later = now + LOOKAHEAD
    return now.year * 12 + now.month - 1, later.year * 12 + later.month - 1


def _from_attempts(session: Session, now: datetime) -> list[ExpiringCard]:
    first, last = _months_ahead(now)
    month_index = ChargeAttempt.card_exp_year * 12 + ChargeAttempt.card_exp_month - 1
    rows = session.execute(
        select(ChargeAttempt.account_id, RecoveryCase.stripe_customer_id,
               ChargeAttempt.card_fingerprint, ChargeAttempt.card_brand,
               ChargeAttempt.card_exp_month, ChargeAttempt.card_exp_year)
        .join(RecoveryCase, RecoveryCase.id == ChargeAttempt.case_id)
        .where(ChargeAttempt.card_exp_year.is_not(None), ChargeAttempt.card_exp_month.is_not(None),
               ChargeAttempt.card_fingerprint.is_not(None),
               RecoveryCase.stripe_customer_id.is_not(None),
               month_index >= first, month_index <= last)).all()
    if not rows:
        return []
    latest = _latest_cases(session, {(row[0], row[1]) for row in rows})
    cards = []
    for account_id, customer_id, fingerprint, brand, month, year in rows:
        case = latest.get((account_id, customer_id))
        # Only the card the customer's latest case would charge is still on file; a canceled
        # subscription needs no card.
        if case is None or case.card_fingerprint != fingerprint \
                or case.status == CaseStatus.canceled.value or not 1 <= month <= 12:
            continue
        cards.append(ExpiringCard(account_id, customer_id, fingerprint, month, year, brand,
                                  timezone=case.customer_timezone))
    return cards


def _latest_cases(session: Session, customers: set[tuple[str, str]]
                  ) -> dict[tuple[str, str], RecoveryCase]:
    latest: dict[tuple[str, str], RecoveryCase] = {}
    for account_id in {account for account, _customer in customers}:
        ids = sorted(customer for account, customer in customers if account == account_id)
        for start in range(0, len(ids), 500):
            for case in session.scalars(
                    select(RecoveryCase).where(
                        RecoveryCase.account_id == account_id,
                        RecoveryCase.stripe_customer_id.in_(ids[start:start + 500]))
                    .order_by(RecoveryCase.created_at, RecoveryCase.id)):
                latest[(account_id, case.stripe_customer_id)] = case
    return latest


def _from_events(session: Session, now: datetime) -> list[ExpiringCard]:
    """Stripe's expiring-card events of the last two months, as the ingest job stored them."""
    rows = session.execute(
        select(WebhookEvent.account_id, WebhookEvent.payload)
        .where(WebhookEvent.type == EXPIRING_EVENT,
               WebhookEvent.status == InboxStatus.processed.value,
               WebhookEvent.created_at >= now - LOOKAHEAD)).all()
    if not rows:
        return []
    zones = _zones(session, {account_id for account_id, _payload in rows})
    facts = []
    for account_id, payload in rows:
        try:
            facts.append((account_id, parse_event(payload)))
        except ParseError:
            log.warning("an expiring-card event could not be read; skipped",
                        extra={"account": account_id})
    facts = [(account_id, fact) for account_id, fact in facts
             if isinstance(fact, CardExpiring) and fact.customer_id]
    # The customer's zone as their latest case knows it, else the account's.
    cases = _latest_cases(session, {(account_id, fact.customer_id) for account_id, fact in facts})
    cards = []
    for account_id, fact in facts:
        case = cases.get((account_id, fact.customer_id))
        zone = case.customer_timezone if case is not None else zones.get(account_id)
        card = _card_of(account_id, fact, zone)
        if card is not None:
            cards.append(card)
    return cards


def _card_of(account_id: str, fact: CardExpiring, zone: str | None) -> ExpiringCard | None:
    info = fact.card
    key = info.fingerprint or info.payment_method_id
    month, year = info.exp_month, info.exp_year
    if not key or not isinstance(month, int) or not isinstance(year, int) \
            or not 1 <= month <= 12 or not 2000 <= year <= 2200:
        return None
    return ExpiringCard(account_id, fact.customer_id, key, month, year, info.brand, info.last4,
                        timezone=zone or "UTC")


def _zones(session: Session, account_ids: set[str]) -> dict[str, str | None]:
    return {account.id: account.timezone for account in session.scalars(
        select(Account).where(Account.id.in_(sorted(account_ids))))}
