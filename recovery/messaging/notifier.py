"""Customer messages: what the engine sends, recorded in ``message``, delivered by a channel.

Channels: SMTP (``smtp.py``), or with no SMTP host a local folder of ``.eml`` files
(``outbox.py``), SMS (``sms.py``, off by default); the sandbox plugs in a channel that tells its
simulated customers. Each message carries a stable message id (an RFC 5322 Message-ID derived
from its action), the same on every re-send.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from recovery.errors import DeliveryRejected

SUBJECTS = {
    "payment_failed": "Your payment didn't go through",
    "card_update_request": "Please update your card",
    "authentication_required": "Please confirm your payment",
    "final_notice": "Last reminder: your subscription is about to end",
    "payment_recovered": "Thanks: your payment went through",
    "card_expiring": "Your card is about to expire",
}
MESSAGE_ID_DOMAIN = "payment-recovery.invalid"


@dataclass(frozen=True)
class MessageOffer:
    """The churn-prevention offer a message carries (a reminder or the final notice)."""

    kind: str  # discount | pause
    percent_off: int
    months: int
    offer_id: int | None = None


@dataclass(frozen=True)
class OutgoingMessage:
    account_id: str
    customer_id: str | None
    invoice_id: str | None
    kind: str
    channel: str
    subject: str
    sent_at: datetime
    link: str | None = None
    message_id: str | None = None  # the same on every delivery of this message
    # What a real channel needs; None until the notify step renders the message.
    to_address: str | None = None  # an email address (the SMS channel reads the stored phone)
    text: str | None = None  # plain-text body
    html: str | None = None  # HTML body (sent as the alternative to ``text``)
    locale: str | None = None  # the language it was rendered in (Content-Language)
    unsubscribe_url: str | None = None  # signed one-click link (List-Unsubscribe, RFC 8058)
    reply_to: str | None = None
    sender: str | None = None  # From; the configured ``mail_from`` when None
    offer: MessageOffer | None = None


class MessageChannel(Protocol):
    def deliver(self, message: OutgoingMessage) -> None: ...


class ChannelsByKind:
    """Hands each message to the channel named by ``message.channel`` ("email", "sms")."""

    def __init__(self, channels: Mapping[str, MessageChannel]) -> None:
        self.channels = dict(channels)

    def deliver(self, message: OutgoingMessage) -> None:
        channel = self.channels.get(message.channel)
        if channel is None:
            raise DeliveryRejected(f"no {message.channel!r} channel is configured")
        channel.deliver(message)

    def close(self) -> None:
        for channel in self.channels.values():
            close = getattr(channel, "close", None)
            if close is not None:
                close()


def compose(account_id: str, customer_id: str | None, invoice_id: str | None, kind: str,
            sent_at: datetime, link: str | None = None,
            message_id: str | None = None) -> OutgoingMessage:
    return OutgoingMessage(account_id=account_id, customer_id=customer_id, invoice_id=invoice_id,
                           kind=kind, channel="email", subject=SUBJECTS.get(kind, kind),
                           sent_at=sent_at, link=link, message_id=message_id)


def message_id_for_action(action_id: int) -> str:
    """The Message-ID of the message a notify action sends: derived from the action alone, so
    every delivery of it, first or re-sent, carries the same one."""
    return f"<action-{action_id}@{MESSAGE_ID_DOMAIN}>"
