"""The ``backfill_run`` table: one import of an account's past invoices from Stripe, and how far
it got, so that an interrupted run resumes where it stopped instead of starting over."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, String
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime


class BackfillStatus(enum.StrEnum):
    running = "running"  # in progress, or its process died without saying so
    interrupted = "interrupted"  # stopped by Stripe trouble or the operator: resumable
    finished = "finished"  # every invoice of the window was read


class BackfillRun(SQLModel, table=True):
    __tablename__ = "backfill_run"
    __table_args__ = (
        Index("ix_backfill_run_account_id_started_at", "account_id", "started_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(sa_column=Column(String(64), ForeignKey("account.id"), nullable=False))
    # Invoices created at or after ``window_start`` are read; ``days`` is what was asked for.
    window_start: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    days: int
    # The last invoice fully imported. Stripe lists newest first, so a resumed run asks for
    # the invoices after it (``starting_after``) and reads no page it has already done.
    cursor: str | None = Field(default=None, max_length=255)
    # When that invoice was created: how far back in the window the run has read.
    reached_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    status: str = Field(default=BackfillStatus.running.value,
                        sa_column=Column(String(12), nullable=False))
    invoices: int = 0  # invoices read
    attempts: int = 0  # charge attempts added
    cases: int = 0  # closed recovery cases added
    skipped: int = 0  # invoices read that added nothing (already imported, or drafts)
    # Why the run stopped early, as the error said it (Stripe's messages carry no API key).
    error: str | None = Field(default=None, max_length=500)
    started_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
