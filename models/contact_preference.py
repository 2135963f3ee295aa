"""The ``contact_preference`` table: what a customer told us about being contacted.

One row per customer of an account, written when they unsubscribe or opt in to SMS; a customer
with no row has the defaults (email allowed, no SMS).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Column, ForeignKey, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime


class ContactPreference(SQLModel, table=True):
    __tablename__ = "contact_preference"
    __table_args__ = (UniqueConstraint("account_id", "stripe_customer_id"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(sa_column=Column(String(64), ForeignKey("account.id"), nullable=False))
    stripe_customer_id: str = Field(max_length=255)
    # When the customer unsubscribed from email (the first time; repeating it changes nothing).
    email_unsubscribed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    sms_opt_in: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    phone: str | None = Field(default=None, max_length=32)  # E.164, e.g. +4915112345678
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
