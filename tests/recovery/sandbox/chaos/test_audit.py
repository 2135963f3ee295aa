"""The chaos audit on hand-made ledgers: double charges, charges of settled invoices and of
canceled subscriptions, network-rule breaches, and records one side lacks."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from models import Account, ChargeAttempt
from recovery.sandbox.chaos.audit import (
    MASTERCARD_ATTEMPTS,
    VISA_REATTEMPTS,
    EngineAttempt,
    audit_charges,
    breaches_of,
    engine_attempts,
)
from recovery.sandbox.fake_stripe.audit import AuditEntry

T0 = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
DAY = timedelta(days=1)
NSF = {"decline_code": "insufficient_funds", "advice_code": "try_again_later",
       "network_decline_code": "51", "failure_code": "card_declined"}


def entry(n: int, *, invoice="in_1", at=T0, paid=False, kind="manual", card="fp_1",
          brand="visa", **fields) -> AuditEntry:
    base = AuditEntry(
        charge_id=f"ch_{n}", invoice_id=invoice, subscription_id="sub_1", customer_id="cus_1",
        card_fingerprint=card, payment_method_id="pm_1", brand=brand, amount=2500,
        currency="usd", at=at, kind=kind, paid=paid, failure_code=None, decline_code=None,
        advice_code=None, network_decline_code=None, network_advice_code=None,
        invoice_status_before="open", subscription_status="past_due")
    return dataclasses.replace(base, **fields)


def engine_of(entries, *, without_charge_ids=()) -> list[EngineAttempt]:
    """What a faultless engine records: its own attempts and Stripe's declines."""
    return [EngineAttempt(charge_id=None if e.charge_id in without_charge_ids else e.charge_id,
                          invoice_id=e.invoice_id, at=e.at + timedelta(seconds=5),
                          succeeded=e.paid, by="engine" if e.kind == "manual" else "stripe")
            for e in entries if e.kind == "manual" or not e.paid]


def clean_ledger() -> list[AuditEntry]:
    return [
        entry(1, kind="first", subscription_status="active", **NSF),
        entry(2, at=T0 + 3 * DAY, **NSF),
        entry(3, at=T0 + 6 * DAY, paid=True),
        entry(4, invoice="in_2", kind="first", paid=True, card="fp_2", brand="mastercard",
              subscription_status="active"),
    ]


def test_a_clean_run_reports_zeros():
    ledger = clean_ledger()
    report = audit_charges(ledger, engine_of(ledger, without_charge_ids={"ch_3"}))
    assert report.clean
    rows = dict(report.rows())
    assert rows["charge attempts (fake Stripe ledger)"] == 4
    assert rows["successful charges"] == 2
    assert rows["successful charges per invoice (max)"] == 1
    assert rows["attempts per invoice (max)"] == 3
    zero = [label for label, value in report.rows()
            if label not in ("charge attempts (fake Stripe ledger)", "successful charges",
                             "successful charges per invoice (max)",
                             "attempts per invoice (max)")]
    assert len(zero) == 8 and all(rows[label] == 0 for label in zero)
    assert all(isinstance(label, str) and isinstance(value, int) for label, value in rows.items())


def test_a_double_charge_is_flagged():
    ledger = [*clean_ledger(), entry(5, at=T0 + 6 * DAY + timedelta(minutes=3), paid=True)]
    report = audit_charges(ledger, engine_of(ledger))
    assert report.max_paid_per_invoice == 2
    assert report.invoices_paid_more_than_once == ("in_1",)
    assert not report.clean


def test_charges_of_settled_invoices_and_canceled_subscriptions_are_flagged():
    ledger = [*clean_ledger(),
              entry(5, at=T0 + 7 * DAY, invoice_status_before="paid", **NSF),
              entry(6, invoice="in_3", at=T0 + 8 * DAY, invoice_status_before="void", **NSF),
              entry(7, invoice="in_4", paid=True, subscription_status="canceled", card="fp_9")]
    report = audit_charges(ledger, engine_of(ledger))
    assert [e.charge_id for e in report.charges_of_settled_invoices] == ["ch_5", "ch_6"]
    assert [e.charge_id for e in report.charges_of_canceled_subscriptions] == ["ch_7"]
    assert not report.clean


@pytest.mark.parametrize(("decline", "brand", "gap", "rule"), [
    ({"advice_code": "do_not_try_again", "decline_code": "generic_decline"}, "amex",
     90 * DAY, "after advice do_not_try_again"),
    ({"decline_code": "stolen_card"}, "discover", 60 * DAY, "after STOP decline stolen_card"),
    ({"decline_code": "do_not_honor", "network_decline_code": "R1"}, "visa", 10 * DAY,
     "Visa category 1 reattempt"),
    ({"decline_code": "generic_decline", "network_advice_code": "03"}, "mastercard", 20 * DAY,
     "after Mastercard MAC 03"),
    ({"decline_code": "insufficient_funds", "network_advice_code": "26"}, "mastercard",
     timedelta(hours=40), "before Mastercard MAC 26 wait"),
])
def test_an_attempt_the_networks_forbid_is_a_breach(decline, brand, gap, rule):
    cause = entry(1, kind="first", brand=brand, **decline)
    retry = entry(2, at=T0 + gap, brand=brand, paid=True)
    (breach,) = breaches_of([retry, cause])
    assert (breach.entry, breach.rule, breach.cause) == (retry, rule, cause)
    report = audit_charges([cause, retry], engine_of([cause, retry]))
    assert report.engine_breaches == (breach,) and not report.clean


@pytest.mark.parametrize(("decline", "brand", "gap"), [
    ({"decline_code": "do_not_honor", "network_decline_code": "R1"}, "visa", 31 * DAY),
    ({"decline_code": "generic_decline", "network_advice_code": "03"}, "mastercard", 31 * DAY),
    ({"decline_code": "insufficient_funds", "network_advice_code": "26"}, "mastercard",
     timedelta(hours=49)),
    ({"decline_code": "stolen_card"}, "visa", 0 * DAY),  # another card: see below
])
def test_attempts_the_rules_allow_are_not_breaches(decline, brand, gap):
    cause = entry(1, kind="first", brand=brand, **decline)
    card = "fp_new" if decline.get("decline_code") == "stolen_card" else "fp_1"
    retry = entry(2, at=T0 + gap + timedelta(minutes=1), brand=brand, card=card, paid=True)
    assert breaches_of([cause, retry]) == []


def test_per_card_caps_in_thirty_days():
    # Visa: the 21st reattempt after a decline within 30 days is one too many.
    visa = [entry(n, at=T0 + n * timedelta(hours=30), **NSF) for n in range(VISA_REATTEMPTS + 2)]
    (breach,) = breaches_of(visa)
    assert breach.entry == visa[-1] and breach.rule.startswith("Visa more than 20")
    assert breaches_of(visa[:-1]) == []
    # Mastercard: 36 attempts in 30 days, whether or not they follow a decline.
    mastercard = [entry(n, brand="mastercard", at=T0 + n * timedelta(hours=19), **NSF)
                  for n in range(MASTERCARD_ATTEMPTS + 1)]
    (breach,) = breaches_of(mastercard)
    assert breach.entry == mastercard[-1] and breach.rule.startswith("Mastercard more than 35")
    # Spread over more than 30 days, the same count is fine; customer payments never count.
    spread = [dataclasses.replace(e, at=T0 + n * DAY) for n, e in enumerate(mastercard)]
    assert breaches_of(spread) == []
    on_session = [dataclasses.replace(e, kind="on_session") for e in mastercard]
    assert breaches_of(on_session) == []


def test_records_one_side_lacks_are_mismatches():
    ledger = clean_ledger()
    engine = engine_of(ledger)
    # The engine never recorded its own paid charge ch_3, nor Stripe's decline ch_1 ...
    lacking = [a for a in engine if a.charge_id not in ("ch_3", "ch_1")]
    # ... and records a success on another invoice the fake never made.
    phantom = EngineAttempt(charge_id=None, invoice_id="in_9", at=T0, succeeded=True,
                            by="engine")
    named = EngineAttempt(charge_id="ch_404", invoice_id="in_1", at=T0, succeeded=True,
                          by="engine")
    report = audit_charges(ledger, [*lacking, phantom, named])
    assert [e.charge_id for e in report.engine_charges_unrecorded] == ["ch_3"]
    assert [e.charge_id for e in report.stripe_declines_unrecorded] == ["ch_1"]
    assert report.engine_successes_unmatched == (named, phantom)
    assert not report.clean


def test_a_success_without_charge_id_matches_the_nearest_charge_within_the_window():
    ledger = clean_ledger()
    far = EngineAttempt(charge_id=None, invoice_id="in_1", at=T0 + 9 * DAY, succeeded=True,
                        by="engine")
    engine = [a for a in engine_of(ledger) if a.charge_id != "ch_3"]
    assert audit_charges(ledger, [*engine, far]).engine_successes_unmatched == (far,)
    wide = audit_charges(ledger, [*engine, far], match_window=4 * DAY)
    assert wide.clean and not wide.engine_charges_unrecorded


def test_engine_attempts_reads_the_charge_attempt_table(services, clock):
    with services.sessions() as session:
        account_id = session.exec(select(Account.id)).first()
        session.add(Account(id="acct_other", name="other", created_at=clock.now()))
        session.flush()
        for n, (account, succeeded) in enumerate([(account_id, False), (account_id, True),
                                                  ("acct_other", True)]):
            session.add(ChargeAttempt(
                account_id=account, stripe_invoice_id="in_1", stripe_charge_id=f"ch_{n}",
                attempted_at=T0 + n * DAY, by="engine", succeeded=succeeded,
                card_fingerprint="fp_1", action_id=n, created_at=clock.now()))
        session.commit()
        mine = engine_attempts(session, account_id)
        every = engine_attempts(session)
    assert [(a.charge_id, a.succeeded, a.at, a.action_id) for a in mine] == [
        ("ch_0", False, T0, 0), ("ch_1", True, T0 + DAY, 1)]
    assert len(every) == 3 and every[2].by == "engine" and every[2].card_fingerprint == "fp_1"


def test_a_customer_paying_a_canceled_subscriptions_invoice_is_not_flagged():
    ledger = [*clean_ledger(),
              entry(5, invoice="in_5", kind="on_session", paid=True, card="fp_5",
                    subscription_status="canceled")]
    report = audit_charges(ledger, engine_of(ledger))
    assert report.charges_of_canceled_subscriptions == () and report.clean
    flagged = [*ledger[:-1], dataclasses.replace(ledger[-1], kind="manual")]
    assert len(audit_charges(flagged, engine_of(flagged)).charges_of_canceled_subscriptions) == 1


def test_breaches_are_counted_by_rule():
    ledger = [entry(1, kind="first", decline_code="lost_card"),
              entry(2, at=T0 + DAY), entry(3, at=T0 + 2 * DAY, kind="automatic")]
    report = audit_charges(ledger, engine_of(ledger))
    assert report.breaches_by_rule() == {"after STOP decline lost_card": 2}
    assert len(report.breaches) == 2 and len(report.engine_breaches) == 1
