"""The ``account`` table: one connected Stripe account and its engine settings."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, String
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
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
