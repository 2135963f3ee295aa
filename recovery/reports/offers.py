"""What churn-prevention offers did for an account over a period: offers shown, accepted, applied,
recovered, and the revenue given up, overall and per kind. Read-only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select
from sqlmodel import Session

from models import Offer, OfferStatus


@dataclass(frozen=True)
class OfferFigures:
    """Offers first shown in the period, and what became of them (to date)."""

    shown: int = 0
    accepted: int = 0  # the customer accepted (applied or not)
    applied: int = 0  # on the subscription through Stripe
    recovered: int = 0  # their case recovered after the acceptance
    recovered_amount: int = 0  # minor units of the invoices those cases recovered
    revenue_given_up: int = 0  # minor units, by the offers applied

    @property
    def acceptance_rate(self) -> float:
        return self.accepted / self.shown if self.shown else 0.0


def offer_figures(session: Session, account_id: str, start: datetime, end: datetime,
                  *, kind: str | None = None) -> OfferFigures:
    """The account's offers shown in ``[start, end)`` (of ``kind``, or all). Amounts are summed
    over every currency: call it per currency where an account bills in several."""
    applied = Offer.status == OfferStatus.applied.value
    query = select(
        func.count(),
        func.count(Offer.accepted_at),
        func.sum(case((applied, 1), else_=0)),
        func.sum(case((Offer.recovered.is_(True), 1), else_=0)),
        func.sum(case((Offer.recovered.is_(True), Offer.amount), else_=0)),
        func.sum(case((applied, Offer.revenue_given_up), else_=0)),
    ).where(Offer.account_id == account_id, Offer.shown_at >= start, Offer.shown_at < end)
    if kind is not None:
        query = query.where(Offer.kind == kind)
    row = session.execute(query).one()
    return OfferFigures(*(int(value or 0) for value in row))


def offer_figures_by_kind(session: Session, account_id: str, start: datetime,
                          end: datetime) -> dict[str, OfferFigures]:
    """``offer_figures`` for each kind of offer shown in the period."""
    kinds = session.scalars(
        select(Offer.kind).where(Offer.account_id == account_id, Offer.shown_at >= start,
                                 Offer.shown_at < end).distinct())
    return {kind: offer_figures(session, account_id, start, end, kind=kind)
            for kind in sorted(kinds)}
