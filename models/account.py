"""The ``account`` table: one connected Stripe account and its engine settings."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Column, Index, String, Text
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime


class AccountConnection(enum.StrEnum):
    """How the engine reaches the account's Stripe data."""

    settings = "settings"  # the settings' own key (RECOVERY_STRIPE_API_KEY), or the sandbox
    key = "key"  # the account's own secret or restricted key, stored sealed
    connect = "connect"  # the platform's key acting as ``stripe_account_id`` (Stripe Connect)


class Account(SQLModel, table=True):
    __tablename__ = "account"
    # A Stripe account is connected at most once per mode: test and live data never share a row.
    __table_args__ = (Index("ix_account_stripe_account_id_livemode", "stripe_account_id",
                            "livemode", unique=True),)

    id: str = Field(sa_column=Column(String(64), primary_key=True))
    name: str = Field(default="", max_length=200)
    # The Stripe ``acct_`` id: what Connect requests act as; for a key account, whose key it is.
    stripe_account_id: str | None = Field(default=None, max_length=64)
    livemode: bool = False
    connection: str = Field(default=AccountConnection.settings.value, sa_column=Column(
        String(16), nullable=False, server_default=AccountConnection.settings.value))
    # The account's own API key, sealed with the secrets key (recovery/accounts/secret_box.py).
    # Never logged, listed or returned.
    api_key_sealed: str | None = Field(default=None, sa_column=Column(Text))
    # The webhook endpoint registered on Stripe for this account (for the settings' account,
    # the platform's Connect endpoint), deleted when the account is removed.
    stripe_webhook_endpoint_id: str | None = Field(default=None, max_length=64)
    # Comma-separated webhook signing secrets (several during a rotation). Kept out of logs.
    webhook_secrets: str = Field(default="")
    # The platform's Connect endpoint's signing secrets (settings' account only): they verify
    # the events of every Connect account.
    connect_webhook_secrets: str = Field(default="", sa_column=Column(
        Text, nullable=False, server_default=""))
    # The account's recovery policy as data (see recovery/policy.py); empty means the defaults.
    policy: dict | None = Field(default=None, sa_column=Column(JSON))
    # The IANA time zone of customers Stripe holds no address or card country for (else UTC).
    timezone: str | None = Field(default=None, max_length=64)
    # Set when Stripe refused the account's key: its actions wait until an operator fixes it.
    paused_reason: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    # Removed accounts keep their row (cases, attempts and messages refer to it) but receive no
    # events and run no actions.
    removed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
