"""Every recovery-rate figure on the hand-built account (``hand_built``), worked out by hand.

The cohort is C1-C8, C11, C12 (10 cases; C9 failed before the period, C10 at its exclusive end).
Recovered within 30 days: C1 (2 d), C2 (10 d), C4 (exactly 30 d), C8 (5 h); C3 was recovered
after 39 days, so it is not. The main currency is usd (8 of the 10 cases); usd amounts due:
C1 1000 + C2 5000 + C3 2000 + C5 8000 + C6 1500 + C7 25000 + C8 700 + C11 1200 = 44400, of which
recovered C1 1000 + C2 5000 + C8 700 = 6700 (C4 is in eur).
"""

from __future__ import annotations

import pytest

from recovery.errors import InvalidReportQuery
from recovery.reports.at_risk import cases_at_risk, estimate_chance
from recovery.reports.channels import channel_effectiveness, template_effectiveness
from recovery.reports.cohort import Period
from recovery.reports.effort import effort_per_recovery
from recovery.reports.offenders import biggest_offenders
from recovery.reports.recovered_by import recovered_by_shares
from recovery.reports.recovery_curve import recovery_curve
from recovery.reports.recovery_rates import recovery_rate
from tests.recovery.reports import hand_built
from tests.recovery.reports.hand_built import PERIOD, at


@pytest.fixture
def account(services, clock) -> str:
    hand_built.build(services.sessions, services.settings.account_id, clock.now())
    return services.settings.account_id


@pytest.fixture
def session(services):
    with services.sessions() as session:
        yield session


def figures(rows) -> list[tuple]:
    return [(r.group, r.cases, r.recovered, r.currency, r.amount_due, r.recovered_amount)
            for r in rows]


def test_the_overall_rate_counts_the_fixed_cohort(session, account):
    rates = recovery_rate(session, account, PERIOD)
    assert figures([rates.total]) == [("all", 10, 4, "usd", 44400, 6700)]
    assert rates.total.rate == 4 / 10 and rates.total.amount_rate == 6700 / 44400
    assert rates.rows == (rates.total,)
    # In eur: C4 3000 + C12 4000 due, C4's 3000 recovered; the counts stay over every currency.
    eur = recovery_rate(session, account, PERIOD, currency="EUR").total
    assert (eur.cases, eur.recovered, eur.amount_due, eur.recovered_amount) == (10, 4, 7000, 3000)


GROUPED = {
    # Mondays: C1 10-05, C2 10-06 | C3 10-12, C4 10-13 | C5, C6, C7 | C8 10-26, C11, C12.
    "week": [("2026-10-05", 2, 2, "usd", 6000, 6000), ("2026-10-12", 2, 1, "usd", 2000, 0),
             ("2026-10-19", 3, 0, "usd", 1000 * 8 + 1500 + 25000, 0),
             ("2026-10-26", 3, 1, "usd", 700 + 1200, 700)],
    # The first failure's class: C2 opened with new_payment_method although its retry declined
    # with retry; C12's decline is unclassified.
    "decline_class": [("new_payment_method", 2, 1, "usd", 5000 + 25000, 5000),
                      ("retry", 6, 3, "usd", 1000 + 2000 + 8000 + 1500 + 700, 1000 + 700),
                      ("stop", 1, 0, "usd", 1200, 0), ("unknown", 1, 0, "usd", 0, 0)],
    # C2's first failure was on a mastercard, its later attempts on a visa.
    "card_brand": [("amex", 1, 0, "usd", 8000, 0), ("mastercard", 2, 2, "usd", 5700, 5700),
                   ("unknown", 1, 0, "usd", 0, 0),
                   ("visa", 6, 2, "usd", 1000 + 2000 + 1500 + 25000 + 1200, 1000)],
    "country": [("DE", 1, 1, "usd", 0, 0), ("FR", 1, 0, "usd", 1200, 0),
                ("GB", 2, 2, "usd", 5700, 5700),
                ("US", 5, 1, "usd", 1000 + 2000 + 8000 + 1500 + 25000, 1000),
                ("unknown", 1, 0, "usd", 0, 0)],
    "policy": [("2", 1, 1, "usd", 1000, 1000), ("default", 9, 3, "usd", 43400, 5700)],
    "experiment_arm": [("A", 1, 1, "usd", 1000, 1000), ("B", 1, 1, "usd", 5000, 5000),
                       ("none", 8, 2, "usd", 44400 - 6000, 700)],
    # monthly 10-50: C1 1000, C3 2000, C4 (eur), C6 1500, C11 1200; C8 bills weekly (other).
    "segment": [("monthly 10-50", 5, 2, "usd", 5700, 1000),
                ("monthly 50-200", 1, 0, "usd", 8000, 0),
                ("other 200+", 1, 0, "usd", 25000, 0), ("other <10", 1, 1, "usd", 700, 700),
                ("yearly 10-50", 1, 0, "usd", 0, 0), ("yearly 50-200", 1, 1, "usd", 5000, 5000)],
    # The last message sent while the case was open: C2's sms came after its email; C3's sms
    # of 11-15 came before it closed (11-20), though past its 30 days; C5's failed sms and C8's
    # note after the recovery do not count; C7 and C11 got none.
    "channel": [("email", 5, 3, "usd", 1000 + 8000 + 1500 + 700, 1000 + 700),
                ("none", 2, 0, "usd", 25000 + 1200, 0),
                ("sms", 3, 1, "usd", 5000 + 2000, 5000)],
    "currency": [("eur", 2, 1, "eur", 7000, 3000), ("usd", 8, 3, "usd", 44400, 6700)],
    # C1 and C8 paid on their 2nd attempt, C2 on its 3rd; C4 was paid without a charge. Every
    # row is over the whole cohort.
    "attempt_number": [("2", 10, 2, "usd", 44400, 1700), ("3", 10, 1, "usd", 44400, 5000),
                       ("none", 10, 1, "usd", 44400, 0)],
}


@pytest.mark.parametrize("by", sorted(GROUPED))
def test_each_grouping(session, account, by):
    rates = recovery_rate(session, account, PERIOD, by=by)
    assert figures(rates.rows) == GROUPED[by]
    assert figures([rates.total]) == [("all", 10, 4, "usd", 44400, 6700)]


def test_the_recovery_curve_by_day(session, account):
    curve = recovery_curve(session, account, PERIOD)
    recovered_by_day = [p.recovered for p in curve.points]
    # C8 on day 1 (5 hours), C1 on day 2 (exactly 48 hours), C2 on day 10, C4 on day 30.
    assert recovered_by_day == [0, 1] + [2] * 8 + [3] * 20 + [4]
    assert [p.share for p in curve.points] == [n / 10 for n in recovered_by_day]
    assert curve.points[-1].share == recovery_rate(session, account, PERIOD).total.rate


def test_recovered_by(session, account):
    shares = recovered_by_shares(session, account, PERIOD)
    assert [(r.recovered_by, r.recovered, r.share, r.recovered_amount, r.amount_share)
            for r in shares.rows] == [
        ("card_update", 1, 1 / 4, 5000, 5000 / 6700), ("customer", 1, 1 / 4, 0, 0.0),
        ("offer", 1, 1 / 4, 700, 700 / 6700), ("retry", 1, 1 / 4, 1000, 1000 / 6700)]
    assert (shares.cases, shares.recovered, shares.recovered_amount) == (10, 4, 6700)


def test_attempts_and_messages_per_recovery(session, account):
    figures = effort_per_recovery(session, account, PERIOD)
    # Attempts: C1 2, C2 3, C3 2, C4 1, C5 4, C6 1, C7 1, C8 2, C11 1, C12 1 = 18, of which the
    # engine's: C1 1, C2 2, C3 1, C5 3, C8 1 = 8. On the recovered C1, C2, C4, C8: 2+3+1+2 = 8,
    # the engine's 1+2+0+1 = 4.
    assert (figures.attempts, figures.engine_attempts) == (18, 8)
    assert (figures.attempts_on_recovered, figures.engine_attempts_on_recovered) == (8, 4)
    # Sent while open: C1 1, C2 2, C3 3, C4 1, C5 3 (not its failed sms), C6 1 (not its pending
    # one), C8 1 (not the note after it closed), C12 1 = 13; on the recovered: 1+2+1+1 = 5.
    assert (figures.messages, figures.messages_on_recovered) == (13, 5)
    assert (figures.attempts_per_recovered_case, figures.engine_attempts_per_recovered_case,
            figures.messages_per_recovered_case) == (8 / 4, 4 / 4, 5 / 4)
    assert (figures.attempts_per_recovery, figures.messages_per_recovery) == (18 / 4, 13 / 4)


def test_open_cases_at_risk_rank_by_chance_times_amount(session, account):
    risk = cases_at_risk(session, account, PERIOD)
    # Closed cases (first class, failed attempts, recovered within 30 d): C1 retry 1 yes, C2
    # new_payment_method 2 yes, C3 retry 2 no, C4 retry 1 yes, C5 retry 4 no, C8 retry 1 yes,
    # C11 stop 1 no. C7 (new_payment_method, 1 attempt): C2 reached 1 and recovered: 1/1.
    # C6 (retry, 1 attempt): C1, C3, C4, C5, C8 reached 1, three recovered: 3/5.
    # C12 is open too, but in eur.
    assert [(r.stripe_invoice_id, r.decline_class, r.failed_attempts, r.chance, r.expected_amount,
             r.basis, r.similar_cases) for r in risk.rows] == [
        ("in_C7", "new_payment_method", 1, 1 / 1, 1 / 1 * 25000, "decline class and attempts", 1),
        ("in_C6", "retry", 1, 3 / 5, 3 / 5 * 1500, "decline class and attempts", 5)]
    assert (risk.currency, risk.open_cases) == ("usd", 2)
    assert [r.stripe_invoice_id for r in cases_at_risk(session, account, PERIOD,
                                                       currency="eur").rows] == ["in_C12"]


def test_a_chance_falls_back_to_less_similar_closed_cases():
    # (class, failed attempts, closed cases, recovered)
    history = [("retry", 1, 4, 3), ("retry", 3, 2, 0), ("stop", 1, 2, 0)]
    assert estimate_chance(history, "retry", 2).value == 0 / 2  # only the 2 that reached 3
    assert estimate_chance(history, "retry", 1).value == 3 / 6
    later = estimate_chance(history, "retry", 4)  # none reached 4: the class at any attempt
    assert (later.value, later.basis, later.similar_cases) == (3 / 6, "decline class", 6)
    other = estimate_chance(history, "authentication", 1)  # a class never closed: every case
    assert (other.value, other.basis, other.similar_cases) == (3 / 8, "all closed cases", 8)
    assert estimate_chance([], "retry", 1).value is None


def test_biggest_offenders(session, account):
    rows = biggest_offenders(session, account, PERIOD).rows
    # cus_a: C1, C3, C5 (failed attempts 1+2+4); cus_d: C7 open (25000) and C11; cus_b: C2 and
    # C6 open (1500); then one failed invoice each, nothing outstanding in usd (C12 is eur).
    assert [(r.stripe_customer_id, r.failed_invoices, r.failed_attempts, r.recovered,
             r.open_cases, r.amount_outstanding) for r in rows] == [
        ("cus_a", 3, 7, 1, 0, 0), ("cus_d", 2, 2, 0, 1, 25000), ("cus_b", 2, 3, 1, 1, 1500),
        ("cus_c", 1, 1, 1, 0, 0), ("cus_e", 1, 1, 1, 0, 0), ("cus_f", 1, 1, 0, 1, 0)]
    assert [r.stripe_customer_id for r in biggest_offenders(session, account, PERIOD,
                                                            limit=2).rows] == ["cus_a", "cus_d"]


def test_channel_and_template_effectiveness(session, account):
    # Email, sent while open: C1, C2, C4, C6, C8 payment_failed; C3 payment_failed and reminder;
    # C5 payment_failed, reminder, final_notice: 10 messages to 7 cases. Recovered within 30
    # days after one: C1, C2, C4 (29 days 23 h after its email), C8; C3's emails were 39 and 32
    # days before it was paid.
    # Sms: C2 card_update_request (6 days before), C3 reminder (5 days before), C12: 2 of 3.
    effects = channel_effectiveness(session, account, PERIOD).rows
    assert [(r.channel, r.template, r.sent, r.cases, r.recovered_after, r.rate)
            for r in effects] == [("email", None, 10, 7, 4, 4 / 7), ("sms", None, 3, 3, 2, 2 / 3)]
    templates = template_effectiveness(session, account, PERIOD).rows
    assert [(r.channel, r.template, r.sent, r.cases, r.recovered_after) for r in templates] == [
        ("email", "final_notice", 1, 1, 0), ("email", "payment_failed", 7, 7, 4),
        ("email", "reminder", 2, 2, 0), ("sms", "card_update_request", 1, 1, 1),
        ("sms", "payment_failed", 1, 1, 0), ("sms", "reminder", 1, 1, 1)]


def test_another_accounts_cases_never_count(session, account):
    other = hand_built.OTHER_ACCOUNT
    assert recovery_rate(session, other, PERIOD).total.cases == 2
    assert figures(recovery_rate(session, other, PERIOD, by="currency").rows) == [
        ("gbp", 1, 0, "gbp", 777, 0), ("usd", 1, 1, "usd", 99999, 99999)]
    # The account's figures above leave out B1 and B2, whose customer cus_a and week are shared.
    assert biggest_offenders(session, account, PERIOD).rows[0].failed_invoices == 3


def test_a_shorter_window_counts_fewer_recoveries(session, account):
    ten_days = Period(PERIOD.start, PERIOD.end, 10)
    assert recovery_rate(session, account, ten_days).total.recovered == 3  # not C4 (30 d)
    assert len(recovery_curve(session, account, ten_days).points) == 11


@pytest.mark.parametrize("start, end, within", [
    (at(11, 1), at(10, 1), 30), (at(10, 1), at(10, 1), 30), (at(10, 1), at(11, 1), 0),
    (at(10, 1), at(11, 1), 366)])
def test_an_impossible_period_is_refused(start, end, within):
    with pytest.raises(InvalidReportQuery):
        Period(start, end, within)


def test_an_unknown_grouping_is_refused(session, account):
    with pytest.raises(InvalidReportQuery, match="unknown grouping"):
        recovery_rate(session, account, PERIOD, by="planet")
