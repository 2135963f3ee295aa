"""The ``policy_version`` table: every policy an account has had, numbered, with who set it.

``account.policy`` is the active document (the engine reads it); each change adds a row here in
the same transaction, so the history is complete and a rollback is a new row equal to an old one.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, ForeignKey, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime


class PolicyVersion(SQLModel, table=True):
    __tablename__ = "policy_version"
    __table_args__ = (UniqueConstraint("account_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(sa_column=Column(String(64), ForeignKey("account.id"), nullable=False))
    number: int  # 1, 2, ... per account
    document: dict = Field(sa_column=Column(JSON, nullable=False))  # the whole policy document
    author: str = Field(max_length=200)  # "token:12", "cli:<user>"
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    note: str | None = Field(default=None, sa_column=Column(Text))  # "rollback to 3", ...
