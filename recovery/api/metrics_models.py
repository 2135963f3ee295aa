"""The JSON shapes of ``/v1/metrics/...``: one pydantic model per answer, read from the reports'
dataclasses (``from_attributes``), so the OpenAPI document describes every field."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class PeriodOut(_Out):
    start: datetime = Field(description="Cases whose first failure is at or after this moment")
    end: datetime = Field(description="... and before this one")
    within_days: int = Field(description="Recovered means recovered within this many days")


class RateRowOut(_Out):
    group: str = Field(description="The group's key ('all' for the whole cohort)")
    cases: int = Field(description="Failed invoices (the denominator)")
    recovered: int = Field(description="Of those, recovered within within_days")
    rate: float = Field(description="recovered / cases")
    currency: str | None = Field(description="Currency of the two amounts")
    amount_due: int = Field(description="Minor units due on the cases in that currency")
    recovered_amount: int = Field(description="Minor units recovered (same cases, currency)")
    amount_rate: float = Field(description="recovered_amount / amount_due")


class _Report(_Out):
    account_id: str
    period: PeriodOut


class RecoveryRateOut(_Report):
    by: str | None = Field(description="The grouping, or null for the total alone")
    currency: str | None = Field(description="Currency of the amounts (default: main currency)")
    total: RateRowOut
    rows: list[RateRowOut]


class CurvePointOut(_Out):
    day: int = Field(description="Days since the first failure")
    recovered: int = Field(description="Cases recovered within that many days")
    share: float = Field(description="recovered / the cohort's cases")


class RecoveryCurveOut(_Report):
    cases: int
    points: list[CurvePointOut]


class RecoveredByRowOut(_Out):
    recovered_by: str = Field(description="retry, card_update, customer, stripe, offer, unknown")
    recovered: int
    share: float = Field(description="Of the recovered cases")
    currency: str | None
    recovered_amount: int
    amount_share: float = Field(description="Of the recovered amount in that currency")


class RecoveredByOut(_Report):
    currency: str | None
    cases: int
    recovered: int
    recovered_amount: int
    rows: list[RecoveredByRowOut]


class EffortOut(_Report):
    cases: int
    recovered: int
    attempts: int = Field(description="Charge attempts (Stripe's and the engine's) on the cohort")
    engine_attempts: int
    messages: int = Field(description="Messages sent on the cohort's cases while open")
    attempts_on_recovered: int
    engine_attempts_on_recovered: int
    messages_on_recovered: int
    attempts_per_recovered_case: float
    engine_attempts_per_recovered_case: float
    messages_per_recovered_case: float
    attempts_per_recovery: float = Field(description="attempts / recovered")
    messages_per_recovery: float = Field(description="messages / recovered")


class AtRiskCaseOut(_Out):
    case_id: int
    stripe_invoice_id: str
    stripe_customer_id: str | None
    first_failed_at: datetime
    decline_class: str = Field(description="Of the first failure")
    failed_attempts: int
    currency: str
    amount_due: int
    chance: float | None = Field(description="Predicted chance of recovery; null: no history")
    expected_amount: float | None = Field(description="chance x amount_due (minor units)")
    basis: str = Field(description="Which closed cases the chance was learned from")
    similar_cases: int


class AtRiskOut(_Report):
    currency: str | None
    open_cases: int
    rows: list[AtRiskCaseOut]


class OffenderOut(_Out):
    stripe_customer_id: str
    failed_invoices: int
    failed_attempts: int
    recovered: int
    open_cases: int
    currency: str | None
    amount_outstanding: int


class OffendersOut(_Report):
    currency: str | None
    rows: list[OffenderOut]


class MessageEffectOut(_Out):
    channel: str
    template: str | None = Field(description="The message kind; null on a channel's row")
    sent: int
    cases: int = Field(description="Cases messaged")
    recovered_after: int = Field(description="Of those, recovered within N days after one")
    rate: float = Field(description="recovered_after / cases")


class MessageEffectsOut(_Report):
    rows: list[MessageEffectOut]
