"""The fake Stripe's own record of every charge attempt it ran, kept apart from the engine's tables.

Each entry states what the card network saw (card fingerprint, brand, amount, the answer and its
decline and advice codes) and what the invoice and its subscription were just before the attempt,
so a charge that should never have been made (an invoice already paid, voided or written off, a
canceled subscription) can be counted even where the fake let it through. It judges nothing:
``recovery.sandbox.chaos.audit`` compares it with the engine's records.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class AuditEntry:
    """One charge attempt, as the fake ran it."""

    charge_id: str
    invoice_id: str
    subscription_id: str | None
    customer_id: str
    card_fingerprint: str | None
    payment_method_id: str
    brand: str | None
    amount: int
    currency: str
    at: datetime
    kind: str  # first | automatic | manual | on_session (charging.Kind values)
    paid: bool
    failure_code: str | None
    decline_code: str | None
    advice_code: str | None
    network_decline_code: str | None
    network_advice_code: str | None
    invoice_status_before: str  # the invoice's status just before this attempt
    subscription_status: str | None  # the subscription's status at that moment
    idempotency_key: str | None = None  # of the API call that made it (manual attempts)


class ChargeAudit:
    """Append-only list of ``AuditEntry``, in the order the attempts ran; safe to read from any
    thread while the fake records."""

    def __init__(self) -> None:
        self._entries: list[AuditEntry] = []
        self._lock = threading.Lock()

    def record(self, entry: AuditEntry) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> tuple[AuditEntry, ...]:
        """A snapshot of every attempt so far, oldest first."""
        with self._lock:
            return tuple(self._entries)

    def paid(self) -> tuple[AuditEntry, ...]:
        return tuple(entry for entry in self.entries() if entry.paid)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __iter__(self) -> Iterator[AuditEntry]:
        return iter(self.entries())
