"""The ``message`` table: every email or SMS sent to a customer, with its delivery result."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, String, Text
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime


class Message(SQLModel, table=True):
    __tablename__ = "message"

    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(sa_column=Column(String(64), ForeignKey("account.id"), nullable=False))
    case_id: int | None = Field(default=None, sa_column=Column(ForeignKey("recovery_case.id"),
                                                               index=True))
    action_id: int | None = Field(default=None, unique=True)  # one message per notify action
    stripe_customer_id: str | None = Field(default=None, max_length=255)
    kind: str = Field(max_length=32)  # payment_failed | card_update_request | final_notice ...
    channel: str = Field(default="email", max_length=8)
    to_address: str | None = Field(default=None, max_length=320)
    subject: str = Field(default="", sa_column=Column(Text, nullable=False))
    status: str = Field(default="sent", max_length=12)  # sent | failed | skipped
    error: str | None = Field(default=None, sa_column=Column(Text))
    sent_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
