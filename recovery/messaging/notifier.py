"""Customer messages: what the engine sends, recorded in ``message``, delivered by a channel.

With no SMTP host configured, messages go to a local outbox (one JSON line each); the sandbox
plugs in a channel that tells its simulated customers. Each message carries a stable message id
(an RFC 5322 Message-ID derived from its action), the same on every re-send.
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

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
    offer: MessageOffer | None = None


class MessageChannel(Protocol):
    def deliver(self, message: OutgoingMessage) -> None: ...


class OutboxChannel:
    """Appends each message to a JSON-lines file (the default when no SMTP host is set)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def deliver(self, message: OutgoingMessage) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(asdict(message), default=str)
        with self._lock, self.path.open("a", encoding="utf-8") as outbox:
            outbox.write(line + "\n")


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
