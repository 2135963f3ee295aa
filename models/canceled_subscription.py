"""The ``canceled_subscription`` table: subscriptions Stripe reported canceled.

A trace kept whether or not the subscription had an open case, so that a failure of one of its
invoices that arrives later never opens a case, sends a message or charges.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime


class CanceledSubscription(SQLModel, table=True):
    __tablename__ = "canceled_subscription"
    __table_args__ = (UniqueConstraint("account_id", "stripe_subscription_id"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(sa_column=Column(String(64), ForeignKey("account.id"), nullable=False))
    stripe_subscription_id: str = Field(max_length=255)
    # The event that reported it; empty when a retry found it by reading Stripe.
    stripe_event_id: str | None = Field(default=None, max_length=255)
    canceled_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
