"""The ``rate_limit_slot`` table: the next free request slot per rate-limited Stripe account.

Every worker process that shares the database reserves its Stripe request slots here, so one
account's limit holds across all of them (see ``recovery/shared_rate_limit.py``).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, String
from sqlmodel import Field, SQLModel


class RateLimitSlot(SQLModel, table=True):
    __tablename__ = "rate_limit_slot"

    # The key the gateway paces by: a Connect account's ``acct_`` id, or ``default`` for the
    # account the API key belongs to. Stripe counts its limit per account, so this is not our
    # ``account.id``.
    limit_key: str = Field(sa_column=Column(String(255), primary_key=True))
    # GCRA's "theoretical arrival time" in whole microseconds since the Unix epoch (from
    # ``time.time()``), not a datetime: integer arithmetic is exact and portable, so one UPDATE
    # computes the next slot on both databases without drifting with float rounding.
    theoretical_arrival_us: int = Field(sa_column=Column(BigInteger, nullable=False))
