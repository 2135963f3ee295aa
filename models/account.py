"""The ``account`` table: one connected Stripe account and its engine settings."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, String, Text
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime


class Account(SQLModel, table=True):
    __tablename__ = "account"

    id: str = Field(sa_column=Column(String(64), primary_key=True))
    name: str = Field(default="", max_length=200)
    # Connect accounts are addressed with their ``acct_`` id; a direct account leaves it empty.
    stripe_account_id: str | None = Field(default=None, max_length=64, index=True, unique=True)
    livemode: bool = False
    # Comma-separated webhook signing secrets (several during a rotation). Kept out of logs.
    webhook_secrets: str = Field(default="")
    # The account's recovery policy as data (see recovery/policy.py); empty means the defaults.
    policy: dict | None = Field(default=None, sa_column=Column(JSON))
    # The IANA time zone of customers Stripe holds no address or card country for (else UTC).
    timezone: str | None = Field(default=None, max_length=64)
    # Set when Stripe refused the account's key: its actions wait until an operator fixes it.
    paused_reason: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
