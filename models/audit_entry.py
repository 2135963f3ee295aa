"""The ``audit_entry`` table: who changed what on an account, with the value before and after.

Written in the same transaction as the change it records (a token made or revoked, a policy
replaced or rolled back, an account connected), so a change without its audit row cannot exist.
Secrets never appear in ``before``/``after``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, Index, String
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_entry"
    __table_args__ = (Index("ix_audit_entry_account_id_at", "account_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    # Not a foreign key: the entry that records an account's removal outlives the account.
    account_id: str = Field(sa_column=Column(String(64), nullable=False))
    actor: str = Field(max_length=200)  # "token:12", "cli:<user>"
    action: str = Field(max_length=64)  # token.create, policy.replace, account.remove ...
    target: str = Field(default="", max_length=255)
    before: dict | None = Field(default=None, sa_column=Column(JSON))
    after: dict | None = Field(default=None, sa_column=Column(JSON))
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
