"""Offer rows: the offer a message carries is chosen from the case's segment and recorded as
shown, once per case; what offers did is reported per account and period."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from models import Account, Offer, OfferStatus, RecoveryCase
from recovery.offers.eligibility import OfferRule, OffersPolicy
from recovery.offers.records import (
    add_months,
    make_offer,
    offer_for_message,
    offer_to_accept,
    offers_policy_of,
    revenue_given_up,
)
from recovery.reports.offers import offer_figures, offer_figures_by_kind

POLICY = OffersPolicy.from_mapping({"rules": [
    {"kind": "pause", "months": 2, "plan_interval": "year"},
    {"kind": "discount", "percent_off": 20, "months": 3, "plan_interval": "month",
     "max_earlier_failures": 0, "in_messages": ["final_notice"]},
]})


def add_case(session, services, invoice: str, *, days_ago: int = 0, interval: int = 30,
             amount: int = 2000, customer: str = "cus_1") -> RecoveryCase:
    now = services.clock.now()
    case = RecoveryCase(account_id=services.settings.account_id, stripe_invoice_id=invoice,
                        stripe_customer_id=customer, stripe_subscription_id=f"sub_{customer}",
                        amount_due=amount, currency="usd", plan_interval_days=interval,
                        first_failed_at=now - timedelta(days=days_ago), created_at=now,
                        updated_at=now)
    session.add(case)
    session.flush()
    return case


def test_a_final_notice_records_the_offer_once_per_case(services):
    now = services.clock.now()
    with services.sessions() as session:
        case = add_case(session, services, "in_1")
        assert offer_for_message(session, case, "reminder", POLICY, now) is None
        offer = offer_for_message(session, case, "final_notice", POLICY, now)
        assert (offer.kind, offer.percent_off, offer.months, offer.status) == (
            "discount", 20, 3, OfferStatus.shown)
        assert (offer.amount, offer.revenue_given_up, offer.message_kind) == (
            2000, 1200, "final_notice")
        again = offer_for_message(session, case, "final_notice", POLICY, now + timedelta(days=1))
        assert again.id == offer.id
        other = make_offer(session, case, OfferRule(kind="pause", months=1), now)
        assert other.id == offer.id and other.kind == "discount"
        offer.status = OfferStatus.accepted.value
        assert offer_for_message(session, case, "final_notice", POLICY, now) is None
        assert len(session.scalars(select(Offer)).all()) == 1


def test_the_segment_counts_the_customers_earlier_failures(services):
    now = services.clock.now()
    with services.sessions() as session:
        add_case(session, services, "in_old", days_ago=60)
        case = add_case(session, services, "in_new")
        assert offer_for_message(session, case, "final_notice", POLICY, now) is None
        yearly = add_case(session, services, "in_year", interval=365, customer="cus_2")
        offer = offer_for_message(session, yearly, "reminder", POLICY, now)
        assert (offer.kind, offer.months) == ("pause", 2)
        # A paused month of a yearly plan gives up its share of the year.
        assert offer.revenue_given_up == round(2000 * 30.44 / 365 * 2)


def test_an_expired_offer_makes_room_for_a_new_one(services):
    now = services.clock.now()
    with services.sessions() as session:
        case = add_case(session, services, "in_1")
        first = offer_for_message(session, case, "final_notice", POLICY, now)
        first.status = OfferStatus.expired.value
        session.flush()
        second = offer_for_message(session, case, "final_notice", POLICY, now)
        assert second.id != first.id


def test_the_offer_an_acceptance_refers_to_is_the_customers_open_case(services):
    now = services.clock.now()
    with services.sessions() as session:
        older = add_case(session, services, "in_a", days_ago=3)
        newer = add_case(session, services, "in_b")
        offer_a = offer_for_message(session, older, "final_notice", POLICY, now)
        offer_b = make_offer(session, newer, OfferRule(kind="pause", months=1), now)
        account = services.settings.account_id
        assert offer_to_accept(session, account, "cus_1", "in_a").id == offer_a.id
        assert offer_to_accept(session, account, "cus_1", None).id == offer_b.id
        assert offer_to_accept(session, account, "cus_1", "in_unknown").id == offer_b.id
        assert offer_to_accept(session, account, "cus_other", None) is None


def test_a_broken_stored_offers_policy_makes_no_offers(services):
    with services.sessions() as session:
        account = session.get(Account, services.settings.account_id)
        account.policy = {"offers": {"rules": [{"kind": "gift", "months": 1}]}}
        assert offers_policy_of(account).rules == ()
        account.policy = {"offers": POLICY.to_dict()}
        assert offers_policy_of(account) == POLICY


def test_offer_figures_count_shown_accepted_recovered_and_revenue_given_up(services):
    now = services.clock.now()
    with services.sessions() as session:
        offers = [make_offer(session, add_case(session, services, f"in_{n}", customer=f"c{n}"),
                             OfferRule(kind="discount", percent_off=25, months=2), now)
                  for n in range(3)]
        pause = make_offer(session, add_case(session, services, "in_p", customer="cp"),
                           OfferRule(kind="pause", months=1), now + timedelta(days=40))
        offers[0].status, offers[0].accepted_at = OfferStatus.applied.value, now
        offers[0].recovered = True
        offers[1].status, offers[1].accepted_at = OfferStatus.accepted.value, now
        session.flush()
        account = services.settings.account_id
        figures = offer_figures(session, account, now, now + timedelta(days=30))
        assert (figures.shown, figures.accepted, figures.applied, figures.recovered) == (3, 2, 1, 1)
        assert (figures.recovered_amount, figures.revenue_given_up) == (2000, 1000)
        assert figures.acceptance_rate == 2 / 3
        later = offer_figures_by_kind(session, account, now, now + timedelta(days=60))
        assert later["pause"].shown == 1 and later["discount"].shown == 3
        assert pause.revenue_given_up == 2000


def test_revenue_given_up_and_calendar_months():
    assert revenue_given_up("discount", 30, 3, 1000, 30) == 900
    assert revenue_given_up("pause", 0, 2, 1000, None) == 2000
    from datetime import UTC, datetime
    assert add_months(datetime(2026, 1, 31, 9, tzinfo=UTC), 1) == datetime(2026, 2, 28, 9,
                                                                            tzinfo=UTC)
    assert add_months(datetime(2026, 11, 15, tzinfo=UTC), 3) == datetime(2027, 2, 15, tzinfo=UTC)
