"""The ``webhook_event`` table: the durable inbox of Stripe events, one row per account + event."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime


class InboxStatus(enum.StrEnum):
    pending = "pending"  # stored, waiting for the ingest job
    processing = "processing"  # claimed by an ingest worker
    fetching = "fetching"  # a thin event claimed by the job that fetches its snapshot
    processed = "processed"  # its fact reached the engine
    ignored = "ignored"  # an event type the engine does not use
    failed = "failed"  # parsing or handling failed too often; kept for re-drive
    needs_fetch = "needs_fetch"  # a thin event: the related object must be fetched first


class WebhookEvent(SQLModel, table=True):
    __tablename__ = "webhook_event"
    __table_args__ = (
        UniqueConstraint("account_id", "stripe_event_id"),
        Index("ix_webhook_event_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(
        sa_column=Column(String(64), ForeignKey("account.id"), nullable=False)
    )
    stripe_event_id: str = Field(max_length=255)
    type: str = Field(max_length=255)
    api_version: str | None = Field(default=None, max_length=64)
    livemode: bool = False
    # Thin events carry only a reference to the object that changed.
    thin: bool = False
    related_object_id: str | None = Field(default=None, max_length=255)
    related_object_type: str | None = Field(default=None, max_length=64)
    payload: dict = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    received_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    status: InboxStatus = Field(
        default=InboxStatus.pending, sa_column=Column(String(16), nullable=False)
    )
    tries: int = 0  # attempts that failed on the event itself; at ingest_max_tries it fails
    # Times Stripe trouble (unavailable, or the account's access refused) put the row off: they
    # set its backoff but never use up its tries.
    deferrals: int = Field(default=0, sa_column=Column(Integer, nullable=False,
                                                       server_default="0"))
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    claimed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    claimed_by: str | None = Field(default=None, max_length=64)  # the worker holding the claim
    next_attempt_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    processed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
