"""The ``experiment`` and ``experiment_assignment`` tables: A/B experiments between two policy
versions of an account, and the arm each customer was put in (recorded once, never changed)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime


class ExperimentStatus(enum.StrEnum):
    draft = "draft"  # set up, assigns no one yet
    running = "running"  # new cases of its customers follow their arm's policy version
    stopped = "stopped"  # assigns no one more; its results are final
    promoted = "promoted"  # stopped, and its winner became the account's policy version


class Experiment(SQLModel, table=True):
    __tablename__ = "experiment"
    __table_args__ = (
        CheckConstraint("treatment_percent > 0 AND treatment_percent < 100",
                        name="treatment_percent"),
        Index("ix_experiment_account_id_status", "account_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(sa_column=Column(String(64), ForeignKey("account.id"), nullable=False))
    name: str = Field(max_length=200)
    # Ids of rows of ``policy_version``, a table added by a later migration: plain integers
    # here, with no foreign key, until that table exists.
    control_policy_version_id: int
    treatment_policy_version_id: int
    # The split: the share of customers in the treatment arm, in whole percent (the rest are
    # the control). Fixed once the experiment runs, since assignments are kept.
    treatment_percent: int = 50
    status: str = Field(default=ExperimentStatus.draft.value,
                        sa_column=Column(String(10), nullable=False))
    started_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    stopped_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    winner: str | None = Field(default=None, max_length=10)  # control | treatment, once promoted
    created_by: str | None = Field(default=None, max_length=200)  # the API token's holder
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class ExperimentAssignment(SQLModel, table=True):
    """The arm a customer was given, written the first time one of their cases met the running
    experiment. The unique key means a second write cannot change it."""

    __tablename__ = "experiment_assignment"
    __table_args__ = (
        UniqueConstraint("experiment_id", "stripe_customer_id"),
        CheckConstraint("arm IN ('control', 'treatment')", name="arm"),
        # The reports join cases to arms by customer, within one account.
        Index("ix_experiment_assignment_account_id_stripe_customer_id", "account_id",
              "stripe_customer_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    experiment_id: int = Field(sa_column=Column(ForeignKey("experiment.id"), nullable=False))
    account_id: str = Field(sa_column=Column(String(64), ForeignKey("account.id"), nullable=False))
    stripe_customer_id: str = Field(max_length=255)
    arm: str = Field(sa_column=Column(String(10), nullable=False))  # control | treatment
    assigned_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
