"""The ``finished_invoice`` table: invoices Stripe reported paid, voided or written off.

A trace kept whether or not the invoice ever had a recovery case, so that a failure event that
arrives late (reordered, re-delivered or re-driven) never opens a case for a finished invoice.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime


class FinishedInvoice(SQLModel, table=True):
    __tablename__ = "finished_invoice"
    __table_args__ = (
        UniqueConstraint("account_id", "stripe_invoice_id"),
        Index("ix_finished_invoice_account_id_stripe_customer_id",
              "account_id", "stripe_customer_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(sa_column=Column(String(64), ForeignKey("account.id"), nullable=False))
    stripe_invoice_id: str = Field(max_length=255)
    # Whose invoice it was: a customer's paid times are their payment history for the scorer.
    stripe_customer_id: str | None = Field(default=None, max_length=255)
    status: str = Field(sa_column=Column(String(20), nullable=False))  # paid | void | uncollectible
    # The event that reported it; empty when a retry found it by reading Stripe.
    stripe_event_id: str | None = Field(default=None, max_length=255)
    finished_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
