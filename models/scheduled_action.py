"""The ``scheduled_action`` table: the durable queue of what the engine will do, and when."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Column, ForeignKey, Index, String, Text, text
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime


class ActionKind(enum.StrEnum):
    retry = "retry"  # charge the invoice again (invoices.pay, off-session)
    take_ownership = "take_ownership"  # auto_advance=false so Stripe stops its own retries
    notify = "notify"  # send the customer a message
    end_dunning = "end_dunning"  # the account's end-of-dunning actions
    apply_offer = "apply_offer"  # apply an accepted offer through Stripe (coupon or pause)
    outbound_event = "outbound_event"  # post an event to one of the account's own endpoints


class ActionStatus(enum.StrEnum):
    scheduled = "scheduled"
    claimed = "claimed"  # a worker holds it until lease_until
    done = "done"
    canceled = "canceled"
    paused = "paused"  # the account's Stripe access failed; resumes when it is fixed
    failed = "failed"


# A case's live step: its retry or its end of dunning, waiting or running. Planning replaces the
# step; the partial unique index below makes the database refuse a second one, whatever races.
LIVE_STEP = text("kind IN ('retry', 'end_dunning') AND status IN ('scheduled', 'claimed')")


class ScheduledAction(SQLModel, table=True):
    __tablename__ = "scheduled_action"
    __table_args__ = (
        Index("ix_scheduled_action_status_due_at", "status", "due_at"),
        Index("ix_scheduled_action_case_id_status", "case_id", "status"),
        Index("ix_scheduled_action_live_step", "case_id", unique=True,
              sqlite_where=LIVE_STEP, postgresql_where=LIVE_STEP),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(sa_column=Column(String(64), ForeignKey("account.id"), nullable=False))
    case_id: int = Field(sa_column=Column(ForeignKey("recovery_case.id"), nullable=False))
    kind: str = Field(sa_column=Column(String(20), nullable=False))
    due_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    status: str = Field(
        default=ActionStatus.scheduled.value, sa_column=Column(String(12), nullable=False)
    )
    # Parameters, e.g. the message template of a notify action.
    params: dict | None = Field(default=None, sa_column=Column(JSON))
    reason: str = Field(default="", sa_column=Column(Text, nullable=False))
    idempotency_key: str | None = Field(default=None, max_length=255, unique=True)
    claimed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    lease_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    claimed_by: str | None = Field(default=None, max_length=64)
    tries: int = 0
    result: dict | None = Field(default=None, sa_column=Column(JSON))
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
