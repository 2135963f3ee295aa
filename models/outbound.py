"""Outbound events for a company's own systems (CRM, ERP): the endpoints it configured, the events
the engine emitted, and the log of every delivery try.

An event is delivered to each endpoint by a ``scheduled_action`` of kind ``outbound_event``; the
tables here keep what was sent and what each try got back.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, Column, ForeignKey, Index, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime


class OutboundEventType(enum.StrEnum):
    case_opened = "case.opened"  # a failed invoice opened a recovery case
    case_recovered = "case.recovered"  # the invoice was paid (``recovered_by`` says how)
    case_exhausted = "case.exhausted"  # dunning ended unpaid; the account's final actions ran
    offer_accepted = "offer.accepted"  # the customer accepted a churn-prevention offer
    # The case is unlikely to recover without the customer: it waits for a new card, or only
    # the end of dunning is left. Once per case.
    customer_at_risk = "customer.at_risk"


class DeliveryOutcome(enum.StrEnum):
    """What one try got; whether the event is tried again is its action's (up to its tries)."""

    delivered = "delivered"  # the endpoint answered 2xx
    transient = "transient"  # 5xx, 408, 429, a timeout or no connection: worth trying again
    refused = "refused"  # for good: another 4xx, a redirect, a URL no longer allowed


class OutboundEndpoint(SQLModel, table=True):
    __tablename__ = "outbound_endpoint"

    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(sa_column=Column(String(64), ForeignKey("account.id"), nullable=False,
                                             index=True))
    url: str = Field(sa_column=Column(Text, nullable=False))
    # The signing secret (``whsec_`` + base64), sealed by the accounts' SecretBox.
    secret: str = Field(sa_column=Column(Text, nullable=False))
    event_types: list = Field(sa_column=Column(JSON, nullable=False))
    enabled: bool = Field(default=True, sa_column=Column(Boolean, nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    # Removed endpoints are kept for their delivery log; they receive nothing more.
    deleted_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class OutboundEvent(SQLModel, table=True):
    __tablename__ = "outbound_event"
    __table_args__ = (
        # What makes two emissions one event (``case:<id>:<type>``): a fact handled twice, or a
        # batch replayed after a rollback, writes it once.
        UniqueConstraint("account_id", "dedupe_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(sa_column=Column(String(64), ForeignKey("account.id"), nullable=False))
    # ``evt_`` + 32 hex digits: the ``webhook-id`` of every try, so receivers drop duplicates.
    event_id: str = Field(sa_column=Column(String(40), nullable=False, unique=True))
    type: str = Field(sa_column=Column(String(32), nullable=False))
    case_id: int | None = Field(default=None, sa_column=Column(ForeignKey("recovery_case.id"),
                                                               index=True))
    dedupe_key: str = Field(sa_column=Column(String(128), nullable=False))
    payload: dict = Field(sa_column=Column(JSON, nullable=False))  # the body, exactly as sent
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class OutboundDelivery(SQLModel, table=True):
    __tablename__ = "outbound_delivery"
    __table_args__ = (Index("ix_outbound_delivery_event_id_endpoint_id", "event_id",
                            "endpoint_id"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(sa_column=Column(String(64), ForeignKey("account.id"), nullable=False))
    event_id: int = Field(sa_column=Column(ForeignKey("outbound_event.id"), nullable=False))
    endpoint_id: int = Field(sa_column=Column(ForeignKey("outbound_endpoint.id"),
                                              nullable=False))
    action_id: int | None = Field(default=None)  # the scheduled action that made the try
    attempted_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    status_code: int | None = Field(default=None)  # None: no HTTP answer (timeout, refused)
    error: str | None = Field(default=None, sa_column=Column(Text))
    duration_ms: int = 0
    outcome: str = Field(sa_column=Column(String(12), nullable=False))
