"""Sending the card-expiring notices the sweep found (``engine.card_expiry``): one per card and
expiry, whenever the contact rules allow it before the card expires.

A notice the rules allow now is written ``pending`` and handed to the channel at once; one they
defer is written ``pending`` for the time they allow, and the re-send job delivers it then (its
row counts in the customer's messages from that time on, so later messages keep their distance).
Its message id is derived from the card and expiry: a second sweep writes nothing new. A notice
the rules refuse (an unsubscribed customer, communication off) is not written: the next sweep
asks again while the card is still due.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import select

from models import Message
from recovery.actions.contact_check import (
    Unsubscribed,
    decide_contact,
    lock_account_contact,
    unsubscribed_of,
)
from recovery.actions.message_content import MessageContent, Recipient
from recovery.engine.card_expiry import CommunicationFor, ExpiringCard
from recovery.messaging.delivery import deliver, queue_message
from recovery.messaging.notifier import MESSAGE_ID_DOMAIN, MessageChannel, compose
from recovery.runtime.clock import Clock
from recovery.runtime.db import SessionFactory, transaction
from webhooks.facts import CardInfo

log = logging.getLogger("recovery.actions")
KIND = "card_expiring"
RecipientOf = Callable[[str, str], Recipient]  # (account id, customer id) -> Stripe's answer

@dataclass
class SweepResult:
    sent: int = 0  # written and handed to the channel now
    scheduled: int = 0  # written for the later time the contact rules allow
    refused: int = 0
    already: int = 0  # this card's notice for this expiry exists

    @property
    def total(self) -> int:
        return self.sent + self.scheduled

def message_id_for_card(card: ExpiringCard) -> str:
    return f"<card-expiring-{card.notice_key}@{MESSAGE_ID_DOMAIN}>"

def send_card_expiring_notices(sessions: SessionFactory, clock: Clock, channel: MessageChannel,
                               cards: Sequence[ExpiringCard], communication_for: CommunicationFor,
                               *, unsubscribed: Unsubscribed = unsubscribed_of,
                               max_tries: int = 8, content: MessageContent | None = None,
                               recipient_of: RecipientOf | None = None) -> SweepResult:
    """``content`` renders each notice (with ``recipient_of``: what Stripe says about the
    customer, read before the notice's transaction); without it the notice is the plain one."""
    result = SweepResult()
    for card in cards:
        recipient = recipient_of(card.account_id, card.customer_id) \
            if content is not None and recipient_of is not None else Recipient()
        outcome, queued = _write_notice(sessions, clock, card, communication_for, unsubscribed,
                                        content, recipient)
        setattr(result, outcome, getattr(result, outcome) + 1)
        if queued is not None:
            deliver(sessions, clock, channel, queued, max_tries=max_tries)
    return result

def _write_notice(sessions: SessionFactory, clock: Clock, card: ExpiringCard,
                  communication_for: CommunicationFor, unsubscribed: Unsubscribed,
                  content: MessageContent | None, recipient: Recipient):
    """Decide and write one card's notice: (the ``SweepResult`` field, a message to deliver
    now or None)."""
    now = clock.now()
    message_id = message_id_for_card(card)
    with transaction(sessions) as session:
        lock_account_contact(session, card.account_id)
        if session.scalar(select(Message.id).where(Message.message_id == message_id)):
            return "already", None
        decision = decide_contact(
            session, kind=KIND, now=now, account_id=card.account_id,
            customer_id=card.customer_id, case_id=None, timezone=card.timezone,
            policy=communication_for(session, card.account_id), unsubscribed=unsubscribed)
        if not decision.allowed or decision.at >= card.expires_at:
            log.info("card-expiring notice not sent",
                     extra={"customer": card.customer_id, "reason": decision.reason})
            return "refused", None
        if content is None:
            message = compose(card.account_id, card.customer_id, None, KIND, decision.at,
                              message_id=message_id)
        else:
            facts = CardInfo(card.card_key, card.brand, exp_month=card.exp_month,
                             exp_year=card.exp_year, last4=card.last4)
            message = content.for_card(session, card.account_id, card.customer_id, facts,
                                       card.timezone, decision.at, message_id, recipient)
        # Written for its time: created then, and due for delivery then.
        queued = queue_message(session, message, case_id=None, action_id=None,
                               resend_at=decision.at)
    if queued is None:
        return "already", None
    if decision.at > now:
        return "scheduled", None
    return "sent", queued
