"""What the contact rules need at send time, read in the sending transaction: the customer's
messages around now, the case's messages, and whether the customer unsubscribed.

``unsubscribed_of`` is the one place the unsubscribe answer comes from: the contact preferences
(``messaging.preferences``) a signed unsubscribe link writes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, or_, select
from sqlmodel import Session

from models import Account, CaseStatus, Message, MessageStatus, RecoveryCase
from recovery.messaging.preferences import preferences_of
from recovery.rules.communication import DUNNING_KINDS, CommunicationPolicy
from recovery.rules.contact import WEEK, ContactDecision, SentRecord, contact_decision

MESSAGES = Message.__table__
# (session, account id, Stripe customer id) -> whether the customer unsubscribed.
Unsubscribed = Callable[[Session, str, str | None], bool]


def unsubscribed_of(session: Session, account_id: str, customer_id: str | None) -> bool:
    """Whether the customer unsubscribed from the account's messages (a signed link's one-click
    unsubscribe, stored in ``contact_preference``)."""
    return preferences_of(session, account_id, customer_id).unsubscribed


def lock_account_contact(session: Session, account_id: str) -> None:
    """Take the account's row lock (PostgreSQL) so two workers never decide on one customer's
    messages at once: each then sees the other's message (SQLite serialises writers anyway)."""
    session.get(Account, account_id, with_for_update=True)


def sent_history(session: Session, account_id: str, customer_id: str | None,
                 case_id: int | None, now: datetime,
                 policy: CommunicationPolicy) -> list[SentRecord]:
    """The customer's messages the rules look at around ``now`` (the last 7 days, or the gap if
    longer, and any scheduled for later), and every message of the case (for its cap). A
    message the channel refused for good never reached the customer and does not count."""
    since = now - max(WEEK, timedelta(hours=policy.min_gap_hours))
    wanted = []
    if customer_id is not None:
        wanted.append(and_(MESSAGES.c.stripe_customer_id == customer_id,
                           MESSAGES.c.created_at >= since))
    if case_id is not None:
        wanted.append(MESSAGES.c.case_id == case_id)
    if not wanted:
        return []
    rows = session.execute(
        select(MESSAGES.c.created_at, MESSAGES.c.case_id, MESSAGES.c.kind)
        .where(MESSAGES.c.account_id == account_id, or_(*wanted),
               MESSAGES.c.status != MessageStatus.failed.value))
    return [SentRecord(at, row_case, kind) for at, row_case, kind in rows]


def decide_contact(session: Session, *, kind: str, now: datetime, account_id: str,
                   customer_id: str | None, case_id: int | None, timezone: str,
                   policy: CommunicationPolicy,
                   unsubscribed: Unsubscribed = unsubscribed_of) -> ContactDecision:
    """The contact rules' answer for one message, from what the database holds now."""
    history = sent_history(session, account_id, customer_id, case_id, now, policy)
    return contact_decision(kind, now, timezone, case_id, history, policy,
                            unsubscribed(session, account_id, customer_id),
                            unanswered_messages(session, account_id, customer_id))


def unanswered_messages(session: Session, account_id: str, customer_id: str | None) -> int:
    """Dunning messages the customer got (or has scheduled) since they last answered: their
    latest recovered invoice or card change on any of their cases (ever, when neither). A
    message the channel refused for good never reached them and does not count."""
    if customer_id is None:
        return 0
    of_customer = (RecoveryCase.account_id == account_id,
                   RecoveryCase.stripe_customer_id == customer_id)
    recovered, card_changed = session.execute(
        select(func.max(case((RecoveryCase.status == CaseStatus.recovered.value,
                              RecoveryCase.closed_at))),
               func.max(RecoveryCase.card_changed_at)).where(*of_customer)).one()
    answered = max((at for at in (recovered, card_changed) if at is not None), default=None)
    counted = [MESSAGES.c.account_id == account_id, MESSAGES.c.stripe_customer_id == customer_id,
               MESSAGES.c.kind.in_(DUNNING_KINDS),
               MESSAGES.c.status != MessageStatus.failed.value]
    if answered is not None:
        counted.append(MESSAGES.c.created_at > answered)
    return session.execute(select(func.count()).select_from(MESSAGES).where(*counted)).scalar_one()
