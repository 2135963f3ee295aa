"""The ``offer`` rows: making the offer a message shows (one live offer per case), finding the
offer a customer accepted, and the account's offers policy as stored.

Nothing here calls Stripe or plans a step: applying an accepted offer is an action
(``recovery.actions.offer``) and the retry or pause that follows is the engine's.
"""

from __future__ import annotations

import calendar
import logging
from datetime import datetime

from sqlalchemy import func, select
from sqlmodel import Session

from models import Account, CaseStatus, Offer, OfferKind, OfferStatus, RecoveryCase
from models.offer import LIVE_OFFER
from recovery.errors import PolicyError
from recovery.offers.eligibility import OfferRule, OffersPolicy, Segment, choose_offer
from recovery.runtime.db import DIALECT_INSERTS

log = logging.getLogger("recovery.offers")
OFFERS = Offer.__table__
# A month of a plan billed by the month is one invoice; a longer plan's month is its share.
MONTHLY_PLAN_DAYS = 31
DAYS_PER_MONTH = 30.44


def offers_policy_of(account: Account | None) -> OffersPolicy:
    """The account's offer rules (``policy["offers"]``); none when they are missing or broken
    (a broken stored policy is logged, and no offer is made rather than a wrong one)."""
    stored = (account.policy or {}).get("offers") if account is not None else None
    try:
        return OffersPolicy.from_mapping(stored)
    except PolicyError as problem:
        log.error("stored offers policy is invalid; no offers are made",
                  extra={"account": account.id, "error": str(problem)})
        return OffersPolicy()


def segment_of(session: Session, case: RecoveryCase, now: datetime,
               customer_since: datetime | None = None) -> Segment:
    """The case's customer as the offer rules see them. ``customer_since``: when the customer
    signed up (Stripe's ``customer.created``), if the caller knows it: the engine does not store
    it, so without it the tenure is unknown and no tenure condition holds."""
    earlier = 0
    if case.stripe_customer_id:
        earlier = session.scalar(
            select(func.count()).select_from(RecoveryCase)
            .where(RecoveryCase.account_id == case.account_id,
                   RecoveryCase.stripe_customer_id == case.stripe_customer_id,
                   RecoveryCase.id != case.id,
                   RecoveryCase.first_failed_at < case.first_failed_at)) or 0
    tenure = (now - customer_since).days if customer_since is not None else None
    return Segment(amount=case.amount_due, currency=case.currency,
                   plan_interval_days=case.plan_interval_days, tenure_days=tenure,
                   earlier_failures=earlier, decline_class=case.last_decline_class)


def revenue_given_up(kind: str, percent_off: int, months: int, amount: int,
                     interval_days: int | None) -> int:
    """Minor units an accepted offer gives up: ``percent_off`` of each discounted month's plan
    amount, or each paused month's plan amount (not billed). A plan billed by the month gives
    its whole amount per month; a longer plan its share of the month."""
    monthly = float(amount)
    if interval_days is not None and interval_days > MONTHLY_PLAN_DAYS:
        monthly = amount * DAYS_PER_MONTH / interval_days
    share = percent_off / 100 if kind == OfferKind.discount.value else 1.0
    return round(monthly * share * months)


def live_offer(session: Session, case_id: int) -> Offer | None:
    """The case's offer that is not expired, if any (there is at most one)."""
    return session.scalars(
        select(Offer).where(Offer.case_id == case_id, Offer.status != OfferStatus.expired.value)
    ).first()


def make_offer(session: Session, case: RecoveryCase, rule: OfferRule, now: datetime,
               message_kind: str | None = None) -> Offer:
    """Record ``rule`` as offered to the case's customer (``shown`` at ``now``). A case has one
    live offer: if it already has one, that one is returned unchanged, whatever the rule."""
    existing = live_offer(session, case.id)
    if existing is not None:
        return existing
    values = dict(
        account_id=case.account_id, case_id=case.id, stripe_customer_id=case.stripe_customer_id,
        stripe_subscription_id=case.stripe_subscription_id, kind=rule.kind,
        percent_off=rule.percent_off if rule.kind == OfferKind.discount.value else 0,
        months=rule.months, status=OfferStatus.shown.value, message_kind=message_kind,
        shown_at=now, amount=case.amount_due, currency=case.currency,
        revenue_given_up=revenue_given_up(rule.kind, rule.percent_off, rule.months,
                                          case.amount_due, case.plan_interval_days),
        recovered=False)
    insert = DIALECT_INSERTS[session.get_bind().dialect.name]
    # Two messages composed at once for one case: the unique index keeps one offer, and the
    # one that lost the race returns the winner's.
    session.execute(insert(OFFERS).values(**values)
                    .on_conflict_do_nothing(index_elements=[OFFERS.c.case_id],
                                            index_where=LIVE_OFFER))
    return live_offer(session, case.id)


def offer_for_message(session: Session, case: RecoveryCase, message_kind: str,
                      policy: OffersPolicy, now: datetime, *,
                      customer_since: datetime | None = None) -> Offer | None:
    """The offer a reminder or final notice for this case carries, recorded as shown; None when
    the rules offer nothing to this customer in this message. An offer already shown for the
    case is shown again; one already accepted is not offered twice."""
    if case.status != CaseStatus.open.value or not case.stripe_subscription_id:
        return None  # a coupon or a pause needs a live subscription to go on
    existing = live_offer(session, case.id)
    if existing is not None:
        return existing if existing.status == OfferStatus.shown.value else None
    rule = choose_offer(policy, segment_of(session, case, now, customer_since), message_kind)
    if rule is None:
        return None
    offer = make_offer(session, case, rule, now, message_kind)
    log.info("offer shown", extra={"case": case.id, "offer": offer.id, "kind": offer.kind})
    return offer


def offer_to_accept(session: Session, account_id: str, customer_id: str,
                    invoice_id: str | None = None) -> Offer | None:
    """The offer a customer's acceptance refers to when it names no offer (the sandbox's
    customers say only who they are and which invoice): the shown offer of their open case for
    that invoice, else of their newest open case."""
    query = (select(Offer).join(RecoveryCase, RecoveryCase.id == Offer.case_id)
             .where(Offer.account_id == account_id, Offer.stripe_customer_id == customer_id,
                    Offer.status == OfferStatus.shown.value,
                    RecoveryCase.status == CaseStatus.open.value)
             .order_by(RecoveryCase.first_failed_at.desc(), Offer.id.desc()))
    if invoice_id is not None:
        for_invoice = session.scalars(
            query.where(RecoveryCase.stripe_invoice_id == invoice_id)).first()
        if for_invoice is not None:
            return for_invoice
    return session.scalars(query).first()


def pause_ends_at(offer: Offer) -> datetime:
    """When the collection an accepted pause stops resumes: ``months`` calendar months after the
    acceptance (the same every time it is computed, however often applying is retried)."""
    start = offer.accepted_at or offer.shown_at
    return add_months(start, offer.months)


def paused_until(session: Session, case_id: int, now: datetime) -> datetime | None:
    """The end of the pause an applied offer put on the case's subscription, if it lasts past
    ``now``: the case's messages (reminders) wait for it too."""
    offer = live_offer(session, case_id)
    if offer is None or offer.kind != OfferKind.pause.value or \
            offer.status != OfferStatus.applied.value:
        return None
    ends = pause_ends_at(offer)
    return ends if ends > now else None


def add_months(moment: datetime, months: int) -> datetime:
    """``moment`` plus whole calendar months, on the same day or the month's last one."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])  # 31 January + 1: 28/29 Feb
    return moment.replace(year=year, month=month, day=day)
