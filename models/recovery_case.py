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


# The case's tallies of its attempts and messages (see the fields below), written as they arrive
# so that the recovery-rate reports read them off the case instead of looking them up per case.
TALLY_COLUMNS = ("first_decline_class", "first_card_brand", "first_card_country",
                 "attempt_count", "engine_attempt_count", "failed_attempt_count",
                 "paying_attempt_number", "message_count", "last_message_channel")


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
                                  "recovered_by", "stripe_customer_id", *TALLY_COLUMNS]),
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
    # Tallies, kept by the engine as attempts and messages are recorded
    # (``recovery/engine/case_tallies.py``). The first failure is the earliest failed charge
    # attempt (by time, then id): the decline that opened the case.
    first_decline_class: str | None = Field(default=None, max_length=32)
    first_card_brand: str | None = Field(default=None, max_length=20)
    first_card_country: str | None = Field(default=None, max_length=2)
    attempt_count: int = 0  # Stripe's and the engine's, failed and succeeded
    engine_attempt_count: int = 0
    failed_attempt_count: int = 0
    # The attempt that paid, counted in time order (1: the charge that first failed); NULL
    # while no successful charge is on record.
    paying_attempt_number: int | None = Field(default=None)
    # Messages a channel accepted while the case was open (sent no later than it closed), and
    # the channel of the latest of them.
    message_count: int = 0
    last_message_channel: str | None = Field(default=None, max_length=16)
    last_message_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    card_changed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    closed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
