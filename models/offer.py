"""The ``offer`` table: a churn-prevention offer shown to a customer with a case, and what became
of it (accepted, applied through Stripe, recovered)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, String, Text, text
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime


class OfferKind(enum.StrEnum):
    discount = "discount"  # a repeating coupon on the subscription for ``months``
    pause = "pause"  # collection paused for ``months`` (the invoices meanwhile are voided)


class OfferStatus(enum.StrEnum):
    shown = "shown"  # sent in a message, not (yet) accepted
    accepted = "accepted"  # the customer accepted; not yet applied through Stripe
    applied = "applied"  # the coupon or the pause is on the subscription
    failed = "failed"  # Stripe could not apply it (the subscription ended first)
    expired = "expired"  # its case ended before the customer accepted it


# A case's live offer: any but an expired one. The partial unique index below keeps it to one.
LIVE_OFFER = text("status <> 'expired'")


class Offer(SQLModel, table=True):
    __tablename__ = "offer"
    __table_args__ = (
        Index("ix_offer_case_id_live", "case_id", unique=True,
              sqlite_where=LIVE_OFFER, postgresql_where=LIVE_OFFER),
        Index("ix_offer_account_id_shown_at", "account_id", "shown_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(sa_column=Column(String(64), ForeignKey("account.id"), nullable=False))
    case_id: int = Field(sa_column=Column(ForeignKey("recovery_case.id"), nullable=False))
    stripe_customer_id: str | None = Field(default=None, max_length=255)
    stripe_subscription_id: str | None = Field(default=None, max_length=255)
    kind: str = Field(sa_column=Column(String(10), nullable=False))
    percent_off: int = 0  # discounts only
    months: int = 1
    status: str = Field(default=OfferStatus.shown.value,
                        sa_column=Column(String(10), nullable=False))
    message_kind: str | None = Field(default=None, max_length=32)  # the message that showed it
    shown_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    accepted_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    applied_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    coupon_id: str | None = Field(default=None, max_length=255)
    amount: int = 0  # the invoice's amount, minor units
    currency: str = Field(default="usd", max_length=3)
    # What accepting costs in minor units: percent_off of the plan's monthly amount for each
    # discounted month, or each paused month's plan amount (never billed).
    revenue_given_up: int = 0
    recovered: bool = False  # its case recovered after the customer accepted
    error: str | None = Field(default=None, sa_column=Column(Text))
