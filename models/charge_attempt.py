"""The ``charge_attempt`` table: every charge on a failed invoice, Stripe's and ours.

It is the per-card attempt log the network rules count, and the scorer's training log (decline
details, the feature snapshot and the scorer version used to pick the attempt's time).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime


class ChargeAttempt(SQLModel, table=True):
    __tablename__ = "charge_attempt"
    __table_args__ = (
        # One row per Stripe charge: a webhook and an API answer about the same charge merge.
        UniqueConstraint("account_id", "stripe_charge_id"),
        Index("ix_charge_attempt_account_id_card_fingerprint_attempted_at",
              "account_id", "card_fingerprint", "attempted_at"),
        # A case's attempts in order, for the reports: its first failure, its attempt counts and
        # the attempt that paid; what they read rides along on PostgreSQL (index-only lookups).
        Index("ix_charge_attempt_case_id_attempted_at", "case_id", "attempted_at", "id",
              postgresql_include=["succeeded", "by", "decline_class", "card_brand",
                                  "card_country"]),
        # Only the few attempts still waiting for their details are indexed.
        Index("ix_charge_attempt_details_pending", "details_pending",
              postgresql_where=text("details_pending"), sqlite_where=text("details_pending")),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(sa_column=Column(String(64), ForeignKey("account.id"), nullable=False))
    # A charge.failed can arrive before its invoice's event: the case is linked when known.
    case_id: int | None = Field(
        default=None, sa_column=Column(ForeignKey("recovery_case.id"), index=True)
    )
    stripe_invoice_id: str | None = Field(default=None, max_length=255, index=True)
    stripe_charge_id: str | None = Field(default=None, max_length=255)
    stripe_payment_intent_id: str | None = Field(default=None, max_length=255, index=True)
    attempted_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    by: str = Field(default="stripe", max_length=10)  # stripe | engine
    succeeded: bool = False
    # The key the network budget counts attempts under: the card's fingerprint; for a bank
    # debit the bank account's fingerprint, or its payment method id when Stripe gives none.
    card_fingerprint: str | None = Field(default=None, max_length=64)
    card_brand: str | None = Field(default=None, max_length=20)
    card_funding: str | None = Field(default=None, max_length=10)
    card_country: str | None = Field(default=None, max_length=2)
    # The card's expiry as the charge reported it: months to expiry is a scorer feature.
    card_exp_month: int | None = Field(default=None)
    card_exp_year: int | None = Field(default=None)
    # Stripe's payment method type (card, us_bank_account, sepa_debit, ...); NULL: not reported.
    payment_method_kind: str | None = Field(default=None, max_length=32)
    failure_code: str | None = Field(default=None, max_length=64)
    decline_code: str | None = Field(default=None, max_length=64)
    advice_code: str | None = Field(default=None, max_length=32)
    network_decline_code: str | None = Field(default=None, max_length=8)
    network_advice_code: str | None = Field(default=None, max_length=8)
    outcome_type: str | None = Field(default=None, max_length=32)
    outcome_reason: str | None = Field(default=None, max_length=64)
    decline_class: str | None = Field(default=None, max_length=32)
    reason: str | None = Field(default=None, sa_column=Column(Text))
    # Recorded without its decline details because Stripe could not be read at the time; a
    # follow-up read fills them in (recovery/ingest/decline_details.py).
    details_pending: bool = Field(default=False, sa_column=Column(Boolean, nullable=False,
                                                                  server_default=false()))
    amount: int = 0
    currency: str = Field(default="usd", max_length=3)
    features: dict | None = Field(default=None, sa_column=Column(JSON))
    scorer_version: str | None = Field(default=None, max_length=64)
    action_id: int | None = Field(default=None)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
