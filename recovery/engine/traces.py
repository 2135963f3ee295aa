"""Traces of invoices that finished and subscriptions that were canceled, case or no case.

Stripe delivers events late, twice and out of order, and the inbox can re-drive old ones: a
failure that arrives after its invoice was paid, voided or written off, or after its subscription
was canceled, must open no case, send no message and charge nothing. These traces let the engine
tell, whatever the order. Writes are insert-on-conflict-do-nothing: the first report stands.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from models import CanceledSubscription, FinishedInvoice
from recovery.runtime.db import DIALECT_INSERTS

FINISHED = FinishedInvoice.__table__
CANCELED = CanceledSubscription.__table__


def record_finished_invoice(session: Session, account_id: str, invoice_id: str, status: str,
                            event_id: str | None, at: datetime, *,
                            customer_id: str | None = None) -> None:
    _insert_once(session, FINISHED, ["account_id", "stripe_invoice_id"], dict(
        account_id=account_id, stripe_invoice_id=invoice_id, status=status,
        stripe_event_id=event_id, finished_at=at, stripe_customer_id=customer_id))


def record_canceled_subscription(session: Session, account_id: str, subscription_id: str,
                                 event_id: str | None, at: datetime) -> None:
    _insert_once(session, CANCELED, ["account_id", "stripe_subscription_id"], dict(
        account_id=account_id, stripe_subscription_id=subscription_id, stripe_event_id=event_id,
        canceled_at=at))


def why_finished(session: Session, account_id: str, invoice_id: str,
                 subscription_id: str | None) -> str | None:
    """Why a failure of this invoice must be ignored ("invoice paid", "subscription canceled"),
    or None when neither the invoice nor its subscription is known to have ended."""
    status = finished_status(session, account_id, invoice_id)
    if status is not None:
        return f"invoice {status}"
    if subscription_id and session.scalar(select(CANCELED.c.id).where(
            CANCELED.c.account_id == account_id,
            CANCELED.c.stripe_subscription_id == subscription_id)) is not None:
        return "subscription canceled"
    return None


def finished_status(session: Session, account_id: str, invoice_id: str) -> str | None:
    """How the invoice is known to have ended (paid, void, uncollectible), if it has."""
    return session.scalar(select(FINISHED.c.status).where(
        FINISHED.c.account_id == account_id, FINISHED.c.stripe_invoice_id == invoice_id))


def _insert_once(session: Session, table, unique: list[str], row: dict) -> None:
    insert = DIALECT_INSERTS[session.get_bind().dialect.name]
    session.execute(insert(table).values(**row).on_conflict_do_nothing(index_elements=unique))
