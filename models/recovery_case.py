"""The ``recovery_case`` table: one per failed invoice, and its life from failure to an end."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime


class CaseStatus(enum.StrEnum):
    open = "open"
    recovered = "recovered"
    exhausted = "exhausted"  # dunning ended without payment
    canceled = "canceled"  # the subscription was canceled
    closed_elsewhere = "closed_elsewhere"  # voided or marked uncollectible outside the engine


class WaitingFor(enum.StrEnum):
    retry = "retry"  # a retry is scheduled
    new_card = "new_card"  # the card on file must not be charged again
    authentication = "authentication"  # the customer must complete 3-D Secure
    reconcile = "reconcile"  # a decline an operator must check (duplicate, amount, review)
    details = "details"  # the decline details are still to be read from Stripe
    paused = "paused"  # the account's Stripe access failed: nothing runs until it is fixed
    end = "end"  # only the end-of-dunning action remains
    nothing = "nothing"  # closed


class RecoveredBy(enum.StrEnum):
    retry = "retry"  # one of the engine's retries succeeded
    card_update = "card_update"  # a retry on a new or updated card succeeded
    customer = "customer"  # the customer paid the invoice themselves
    stripe = "stripe"  # Stripe's own retry succeeded (coexist mode)
    offer = "offer"


class RecoveryCase(SQLModel, table=True):
    __tablename__ = "recovery_case"
    __table_args__ = (
        UniqueConstraint("account_id", "stripe_invoice_id"),
        Index("ix_recovery_case_account_id_status", "account_id", "status"),
        Index("ix_recovery_case_account_id_stripe_customer_id", "account_id", "stripe_customer_id"),
        # The recovery-rate reports select a period's cases by their first failure; on
        # PostgreSQL the columns every report reads ride along, for index-only scans.
        Index("ix_recovery_case_account_id_first_failed_at", "account_id", "first_failed_at",
              postgresql_include=["id", "status", "closed_at", "currency", "amount_due",
                                  "recovered_by", "stripe_customer_id"]),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(sa_column=Column(String(64), ForeignKey("account.id"), nullable=False))
    stripe_invoice_id: str = Field(max_length=255)
    stripe_customer_id: str | None = Field(default=None, max_length=255)
    stripe_subscription_id: str | None = Field(default=None, max_length=255, index=True)
    amount_due: int = 0
    currency: str = Field(default="usd", max_length=3)
    status: str = Field(default=CaseStatus.open.value, sa_column=Column(String(20), nullable=False))
    waiting_for: str = Field(
        default=WaitingFor.retry.value, sa_column=Column(String(20), nullable=False)
    )
    recovered_by: str | None = Field(default=None, sa_column=Column(String(20)))
    # The card the next retry would charge (the one on file), as far as the engine knows.
    card_fingerprint: str | None = Field(default=None, max_length=64)
    card_brand: str | None = Field(default=None, max_length=20)
    payment_method_id: str | None = Field(default=None, max_length=255)
    customer_timezone: str = Field(default="UTC", max_length=64)
    # The subscription's billing interval in days (from the invoice line's period), if known.
    plan_interval_days: int | None = Field(default=None)
    hosted_invoice_url: str | None = Field(default=None, sa_column=Column(Text))
    stripe_next_payment_attempt: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime())
    )
    last_decline_class: str | None = Field(default=None, max_length=32)
    last_reason: str | None = Field(default=None, sa_column=Column(Text))
    engine_retries: int = 0
    # The version of the account's retry policy that planned the case, and the experiment arm
    # it was assigned to; NULL: the default policy, no experiment. Reports group by them.
    policy_version: int | None = Field(default=None)
    experiment_arm: str | None = Field(default=None, max_length=32)
    first_failed_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    card_changed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    closed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
