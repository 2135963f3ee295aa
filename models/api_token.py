"""The ``api_token`` table: an account's API tokens, kept only as hashes.

A token is shown once when it is made; what is stored is its SHA-256 digest (tokens are 256 random
bits, so a fast hash is enough: there is nothing to guess) and a short prefix to tell tokens apart
in lists. Revoked tokens stay, with the time they were revoked, for the audit trail.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, String
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(sa_column=Column(String(64), ForeignKey("account.id"), nullable=False,
                                             index=True))
    name: str = Field(default="", max_length=200)
    prefix: str = Field(max_length=16)  # the token's first characters, to recognise it
    token_hash: str = Field(max_length=64, unique=True, index=True)  # hex SHA-256 of the token
    scopes: str = Field(default="read", max_length=64)  # comma-separated: read, write
    created_by: str = Field(default="", max_length=200)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
