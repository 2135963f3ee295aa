"""The ``link_use`` table: signed links that were opened, one row per link token.

The unique token id makes the insert itself the single-use check: of two concurrent clicks on
one link, only one insert succeeds.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, String
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime


class LinkUse(SQLModel, table=True):
    __tablename__ = "link_use"

    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(sa_column=Column(String(64), ForeignKey("account.id"), nullable=False,
                                             index=True))
    token_id: str = Field(max_length=64, unique=True)  # the random id carried in the token
    purpose: str = Field(max_length=32)  # unsubscribe | offer
    used_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
