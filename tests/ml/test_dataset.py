"""The attempt dataset: time-ordered, labelled, and built only from what came before each row."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
from sqlmodel import select

from ml.dataset import attempt_dataset
from ml.features import CATEGORICAL, FEATURE_COLUMNS
from ml.history import AccountLog, snapshots_for_cases
from models import ChargeAttempt, FinishedInvoice, RecoveryCase
from tests.ml.synthetic import START, write_log

ACCOUNT = "acct_default"


def features_of(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.loc[:, list(FEATURE_COLUMNS)].astype({c: object for c in CATEGORICAL}) \
        .reset_index(drop=True)


def test_rows_are_attempts_in_time_order_with_labels_and_propensities(session):
    write_log(session, customers=30, months=4)
    session.commit()
    frame = attempt_dataset(session, ACCOUNT)
    attempts = len(session.exec(select(ChargeAttempt)).all())
    cases = len(session.exec(select(RecoveryCase)).all())
    assert len(frame) == attempts - cases  # each invoice's first failure is no retry decision
    assert frame["attempted_at"].is_monotonic_increasing
    assert set(frame["label"].unique()) == {0, 1}
    engine_rows = frame["by"] == "engine"
    assert (frame.loc[engine_rows, "propensity"] == 0.5).all()
    assert frame.loc[~engine_rows, "propensity"].isna().all()
    assert (frame["attempt_number"] >= 2).all()
    later = attempt_dataset(session, ACCOUNT, since=frame["attempted_at"].iloc[10].to_pydatetime())
    assert len(later) == len(frame) - 10


def test_no_feature_reads_anything_after_the_decision_time(session):
    """Build the dataset, add what happens later (more attempts, recoveries, new cases and
    payments of the same customers), build it again: every earlier row is unchanged."""
    people = write_log(session, customers=40, months=5)
    unfinished = session.exec(select(RecoveryCase).where(RecoveryCase.status == "exhausted")
                              .order_by(RecoveryCase.first_failed_at.desc())).all()[:25]
    for case in unfinished:  # still open when the first dataset is built
        case.status, case.closed_at = "open", None
    session.commit()
    before = attempt_dataset(session, ACCOUNT)
    cutoff = before["attempted_at"].max().to_pydatetime() + timedelta(seconds=1)
    _add_later_history(session, people, unfinished, cutoff)
    session.commit()
    after = attempt_dataset(session, ACCOUNT)
    assert len(after) > len(before)
    earlier = after[after["attempted_at"] < cutoff]
    pd.testing.assert_frame_equal(features_of(earlier), features_of(before))
    assert earlier["label"].tolist() == before["label"].tolist()


def _add_later_history(session, people, still_open, cutoff) -> None:
    for n, case in enumerate(still_open):
        at = cutoff + timedelta(days=1, hours=n)
        session.add(ChargeAttempt(
            account_id=ACCOUNT, case_id=case.id, stripe_invoice_id=case.stripe_invoice_id,
            attempted_at=at, by="engine", succeeded=True, card_brand="amex", amount=1,
            card_exp_month=1, card_exp_year=2030, created_at=at))
        case.status, case.recovered_by, case.closed_at = "recovered", "retry", at
        session.add(FinishedInvoice(account_id=ACCOUNT,
                                    stripe_invoice_id=f"{case.stripe_invoice_id}_late",
                                    stripe_customer_id=case.stripe_customer_id, status="paid",
                                    finished_at=at))
    for n, customer in enumerate(people[:20]):
        at = cutoff + timedelta(days=2, hours=n)
        case = RecoveryCase(
            account_id=ACCOUNT, stripe_invoice_id=f"in_later_{n}",
            stripe_customer_id=customer.customer_id, amount_due=5000, currency="usd",
            customer_timezone=customer.zone, first_failed_at=at, created_at=at, updated_at=at,
            status="recovered", recovered_by="stripe", closed_at=at + timedelta(days=1))
        session.add(case)
        session.flush()
        for k in range(2):
            session.add(ChargeAttempt(
                account_id=ACCOUNT, case_id=case.id, stripe_invoice_id=case.stripe_invoice_id,
                attempted_at=at + timedelta(hours=k), by="stripe", succeeded=False,
                decline_class="retry", decline_code="do_not_honor", created_at=at))
        session.add(FinishedInvoice(account_id=ACCOUNT, stripe_invoice_id=case.stripe_invoice_id,
                                    stripe_customer_id=customer.customer_id, status="paid",
                                    finished_at=at + timedelta(days=1)))


def test_stripe_recoveries_without_an_attempt_count_as_stripe_successes(session):
    write_log(session, customers=5, months=1)
    at = START + timedelta(days=3)
    case = RecoveryCase(account_id=ACCOUNT, stripe_invoice_id="in_stripe", amount_due=100,
                        stripe_customer_id="cus_s", first_failed_at=at, created_at=at,
                        updated_at=at, status="recovered", recovered_by="stripe",
                        closed_at=at + timedelta(days=5))
    session.add(case)
    session.flush()
    session.add(ChargeAttempt(account_id=ACCOUNT, case_id=case.id, attempted_at=at,
                              stripe_invoice_id="in_stripe", decline_class="retry",
                              created_at=at))
    session.add(FinishedInvoice(account_id=ACCOUNT, stripe_invoice_id="in_stripe",
                                stripe_customer_id="cus_s", status="paid",
                                finished_at=at + timedelta(days=4)))
    session.commit()
    frame = attempt_dataset(session, ACCOUNT)
    row = frame[frame["case_id"] == case.id]
    assert row["label"].tolist() == [1] and row["by"].tolist() == ["stripe"]
    assert row["hours_since_first_failure"].tolist() == [96]


def test_the_scorer_sees_what_training_saw(session):
    """``snapshots_for_cases`` (a few queries, only earlier rows) gives the same snapshot as the
    full log the dataset is built from."""
    write_log(session, customers=30, months=4)
    session.commit()
    as_of = START + timedelta(days=75)
    cases = list(session.exec(select(RecoveryCase.id).where(RecoveryCase.first_failed_at < as_of)))
    served = snapshots_for_cases(session, ACCOUNT, cases, as_of)
    full = AccountLog.load(session, ACCOUNT)
    assert set(served) == set(cases)
    for case_id in cases:
        assert served[case_id] == full.snapshot(case_id, as_of)
    assert any(s.history.paid_days_of_month for s in served.values())
    assert any(s.account_rates for s in served.values())


def test_an_empty_log_gives_an_empty_frame(session):
    write_log(session, customers=0, months=0)
    frame = attempt_dataset(session, ACCOUNT)
    assert frame.empty and "label" in frame.columns and np.all(
        [c in frame.columns for c in FEATURE_COLUMNS])


def test_a_rows_card_facts_never_come_from_its_own_outcome_record(session):
    """A declined charge is recorded with its card's funding, country and expiry, a successful
    one often without: a row's card facts must be what was known before it (the latest earlier
    attempt's, as the scorer sees them), whatever the attempt's own record holds."""
    write_log(session, customers=30, months=4)
    successes = session.exec(select(ChargeAttempt).where(ChargeAttempt.succeeded)).all()
    for attempt in successes:  # as a payment webhook records it: no card details
        attempt.card_funding = attempt.card_country = None
        attempt.card_exp_month = attempt.card_exp_year = None
    session.commit()
    frame = attempt_dataset(session, ACCOUNT)
    paid = frame[frame["label"] == 1]
    assert len(paid) > 0
    assert paid["card_funding"].astype(str).ne("none").all()
    assert paid["months_to_expiry"].notna().all()
