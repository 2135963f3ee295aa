"""The ``model_version`` table: one trained scorer artifact of an account, and its standing.

The artifact is stored as skops bytes beside its metadata (library versions, feature columns,
training window, sample count, metrics); at most one version per account is active.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Column, ForeignKey, LargeBinary, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime


class ModelVersion(SQLModel, table=True):
    __tablename__ = "model_version"
    __table_args__ = (UniqueConstraint("account_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(sa_column=Column(String(64), ForeignKey("account.id"), nullable=False,
                                             index=True))
    version: str = Field(max_length=64)
    artifact: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    # Library versions, feature columns, training window, sample count, hold-out metrics.
    # (``metadata`` is reserved by SQLAlchemy's declarative classes.)
    details: dict = Field(default_factory=dict, sa_column=Column("metadata", JSON, nullable=False))
    active: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, default=False))
    promoted_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    # The version that was active when this one was promoted: what a rollback goes back to.
    replaced_version: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
