"""The ``message`` table: every email or SMS to a customer, from written to delivered."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Column, ForeignKey, Index, String, Text
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime


class MessageStatus(enum.StrEnum):
    pending = "pending"  # written before its channel was called; re-sent until accepted
    sent = "sent"  # the channel accepted it
    failed = "failed"  # the channel refused it too many times: kept with its error


class Message(SQLModel, table=True):
    __tablename__ = "message"
    __table_args__ = (
        # The re-send job's query: pending messages whose next attempt is due.
        Index("ix_message_status_next_attempt_at", "status", "next_attempt_at"),
        # A case's messages; on PostgreSQL with what the channel and template reports read, so
        # a period's messages are an index-only scan (measured: a third of the time of the
        # index scan and heap reads of a quarter of a million messages).
        Index("ix_message_case_id", "case_id",
              postgresql_include=["status", "channel", "kind", "sent_at"]),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(sa_column=Column(String(64), ForeignKey("account.id"), nullable=False))
    case_id: int | None = Field(default=None, sa_column=Column(ForeignKey("recovery_case.id")))
    action_id: int | None = Field(default=None, unique=True)  # one message per notify action
    # Stable across re-sends (derived from the action), so a receiver can drop a duplicate.
    message_id: str = Field(max_length=255, unique=True)
    stripe_customer_id: str | None = Field(default=None, max_length=255)
    kind: str = Field(max_length=32)  # payment_failed | card_update_request | final_notice ...
    channel: str = Field(default="email", max_length=8)
    to_address: str | None = Field(default=None, max_length=320)
    subject: str = Field(default="", sa_column=Column(Text, nullable=False))
    # The message as rendered when it was written: every re-send sends exactly this.
    body_text: str | None = Field(default=None, sa_column=Column(Text))
    body_html: str | None = Field(default=None, sa_column=Column(Text))
    locale: str | None = Field(default=None, max_length=8)
    sender: str | None = Field(default=None, max_length=320)
    reply_to: str | None = Field(default=None, max_length=320)
    unsubscribe_url: str | None = Field(default=None, sa_column=Column(Text))
    # The offer it carries: {"kind", "percent_off", "months", "offer_id"}.
    offer: dict | None = Field(default=None, sa_column=Column(JSON))
    status: str = Field(default=MessageStatus.pending.value, max_length=12)
    tries: int = 0  # deliveries the channel did not accept
    error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    # While pending: when the re-send job may deliver it again.
    next_attempt_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
