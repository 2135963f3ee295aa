"""An experiment's results, read from a hand-built database: the arms' cases through their
recorded assignments, within the account and the experiment's run only."""

from __future__ import annotations

from datetime import timedelta

import pytest

from models import (
    Account,
    CanceledSubscription,
    ChargeAttempt,
    Experiment,
    ExperimentAssignment,
    ExperimentStatus,
    Message,
    Offer,
    OfferStatus,
    RecoveryCase,
)
from recovery.errors import NotFound
from recovery.reports.experiments import experiment_results, find_experiment
from recovery.rules.experiment_assignment import Arm

OTHER_ACCOUNT = "acct_other"


def add_experiment(session, account_id: str, now, **fields) -> Experiment:
    values = {"name": "day-3 retry vs learned timing", "control_policy_version_id": 11,
              "treatment_policy_version_id": 12, "status": ExperimentStatus.running.value,
              "started_at": now, "created_at": now, **fields}
    experiment = Experiment(account_id=account_id, **values)
    session.add(experiment)
    session.flush()
    return experiment


def assign(session, experiment: Experiment, customer: str, arm: Arm) -> None:
    session.add(ExperimentAssignment(
        experiment_id=experiment.id, account_id=experiment.account_id,
        stripe_customer_id=customer, arm=arm.value,
        assigned_at=experiment.started_at or experiment.created_at))


def add_case(session, account_id: str, customer: str, opened, *, status: str = "open",
             amount: int = 1000, ended_after: timedelta | None = None, currency: str = "usd"):
    case = RecoveryCase(
        account_id=account_id, stripe_invoice_id=f"in_{customer}_{opened:%j%H%M}",
        stripe_customer_id=customer, stripe_subscription_id=f"sub_{customer}",
        amount_due=amount, currency=currency, status=status, first_failed_at=opened,
        created_at=opened, updated_at=opened,
        closed_at=opened + ended_after if ended_after is not None else None)
    session.add(case)
    session.flush()
    return case


def add_attempts(session, case: RecoveryCase, count: int) -> None:
    for number in range(count):
        session.add(ChargeAttempt(
            account_id=case.account_id, case_id=case.id, attempted_at=case.created_at,
            stripe_charge_id=f"ch_{case.id}_{number}", created_at=case.created_at))


def add_message(session, case: RecoveryCase) -> None:
    session.add(Message(account_id=case.account_id, case_id=case.id,
                        message_id=f"<m-{case.id}@test>", kind="payment_failed",
                        stripe_customer_id=case.stripe_customer_id, created_at=case.created_at))


@pytest.fixture
def world(services):
    """One running experiment in the default account, with three customers per arm, and
    cases that must not count: before the start, unassigned, in another account."""
    account = services.settings.account_id
    now = services.clock.now()
    day = timedelta(days=1)
    with services.sessions() as session:
        session.add(Account(id=OTHER_ACCOUNT, name="other", created_at=now))
        experiment = add_experiment(session, account, now)
        other_experiment = add_experiment(session, account, now, name="another")
        arms = {"cus_c1": Arm.control, "cus_c2": Arm.control, "cus_c3": Arm.control,
                "cus_t1": Arm.treatment, "cus_t2": Arm.treatment, "cus_t3": Arm.treatment}
        for customer, arm in arms.items():
            assign(session, experiment, customer, arm)
        assign(session, other_experiment, "cus_x", Arm.treatment)
        c1 = add_case(session, account, "cus_c1", now + day, status="recovered", amount=1000,
                      ended_after=2 * day)
        add_attempts(session, c1, 2)
        add_message(session, c1)
        c2 = add_case(session, account, "cus_c2", now + day, status="canceled", amount=2000,
                      ended_after=5 * day)
        add_attempts(session, c2, 3)
        session.add(CanceledSubscription(account_id=account, stripe_subscription_id="sub_cus_c2",
                                         canceled_at=now + 6 * day))
        add_case(session, account, "cus_c3", now + 2 * day, amount=500)  # still open
        t1 = add_case(session, account, "cus_t1", now + day, status="recovered", amount=1000,
                      ended_after=day)
        add_attempts(session, t1, 1)
        add_message(session, t1)
        session.add(Offer(account_id=account, case_id=t1.id, kind="discount", percent_off=20,
                          months=1, status=OfferStatus.applied.value, shown_at=now + day,
                          amount=1000, revenue_given_up=200))
        add_case(session, account, "cus_t2", now + 3 * day, status="recovered", amount=3000,
                 ended_after=day)
        add_case(session, account, "cus_t3", now + day, status="exhausted", amount=1000,
                 ended_after=9 * day)
        # None of these are the experiment's.
        add_case(session, account, "cus_c1", now - day, status="recovered", amount=9999,
                 ended_after=day)  # opened before it started
        add_case(session, account, "cus_x", now + day, status="recovered", amount=9999,
                 ended_after=day)  # another experiment's customer
        add_case(session, OTHER_ACCOUNT, "cus_t2", now + day, status="exhausted", amount=9999,
                 ended_after=day)  # the same customer id in another account
        session.commit()
        return experiment.id


def test_each_arm_counts_its_customers_cases_and_what_they_cost(services, world):
    with services.sessions() as session:
        results = experiment_results(session, services.settings.account_id, world)
    control, treatment = results.control, results.treatment
    assert (control.arm, control.policy_version_id, treatment.policy_version_id) == (
        Arm.control, 11, 12)
    assert (control.customers, control.cases, control.open_cases) == (3, 3, 1)
    assert (control.recovered.successes, control.recovered.trials) == (1, 2)
    assert (control.amount_due, control.amount_recovered, control.amount_rate) == (
        3000, 1000, pytest.approx(1 / 3))
    assert (control.attempts, control.messages, control.cancellations) == (5, 1, 1)
    assert (control.revenue_given_up, control.net_revenue) == (0, 1000)
    assert (treatment.customers, treatment.cases, treatment.open_cases) == (3, 3, 0)
    assert (treatment.recovered.successes, treatment.recovered.trials) == (2, 3)
    assert (treatment.amount_due, treatment.amount_recovered) == (5000, 4000)
    assert (treatment.attempts, treatment.messages, treatment.cancellations) == (1, 1, 0)
    assert (treatment.revenue_given_up, treatment.net_revenue) == (200, 3800)
    assert treatment.recovered.interval.contains(2 / 3)


def test_the_differences_are_treatment_minus_control_with_their_intervals(services, world):
    with services.sessions() as session:
        results = experiment_results(session, services.settings.account_id, world)
    assert results.recovery_rate_difference.estimate == pytest.approx(2 / 3 - 1 / 2)
    assert results.recovery_rate_difference.interval.contains(0.0)
    # Per ended case: control (1000 + 0) / 2, treatment (1000 + 3000 + 0) / 3.
    assert results.amount_recovered_per_case_difference.estimate == pytest.approx(4000 / 3 - 500)
    assert results.net_revenue_per_case_difference.estimate == pytest.approx(3800 / 3 - 500)
    # Five ended cases (t1, c1, t2, c2, t3 in the order they ended): a look after each from
    # c1's on, the first with a case in each arm.
    assert results.sequential.looks == 4
    assert (results.sequential.stop, results.sequential.winner) == (False, None)
    assert results.sequential.leader == Arm.treatment
    assert results.sequential.estimate == pytest.approx(2 / 3 - 1 / 2)


def test_another_account_cannot_read_the_experiment(services, world):
    with services.sessions() as session:
        with pytest.raises(NotFound):
            experiment_results(session, OTHER_ACCOUNT, world)
        with pytest.raises(NotFound):
            find_experiment(session, OTHER_ACCOUNT, world)
        assert find_experiment(session, services.settings.account_id, world).id == world


def test_cases_opened_after_the_stop_do_not_count(services, world):
    with services.sessions() as session:
        experiment = session.get(Experiment, world)
        experiment.status = ExperimentStatus.stopped.value
        experiment.stopped_at = experiment.started_at + timedelta(days=2, hours=12)
        session.commit()
        results = experiment_results(session, services.settings.account_id, world)
    assert (results.control.cases, results.treatment.cases) == (3, 2)  # cus_t2's came later


def test_one_currency_at_a_time(services, world):
    account = services.settings.account_id
    with services.sessions() as session:
        start = session.get(Experiment, world).started_at
        add_case(session, account, "cus_t3", start + timedelta(days=4), status="recovered",
                 amount=800, ended_after=timedelta(days=1), currency="eur")
        session.commit()
        euros = experiment_results(session, account, world, currency="eur")
        everything = experiment_results(session, account, world)
    assert (euros.control.cases, euros.treatment.cases, euros.treatment.amount_recovered) == (
        0, 1, 800)
    assert euros.currency == "eur"
    # Without a currency the counts cover both, the amounts only the main one (dollars: six of
    # the seven cases); euros are never added to dollars.
    assert (everything.currency, everything.treatment.cases) == ("usd", 4)
    assert everything.treatment.recovered.successes == 3
    assert (everything.treatment.amount_due, everything.treatment.amount_recovered) == (
        5000, 4000)
    assert everything.treatment.amount.cases == 3


def test_each_arm_has_its_rate_by_amount_with_an_interval_and_so_has_the_difference(
        services, world):
    with services.sessions() as session:
        results = experiment_results(session, services.settings.account_id, world)
    control, treatment = results.control.amount, results.treatment.amount
    # Control: c1 (1000 of 1000) and c2 (0 of 2000) ended; treatment: 4000 of 5000 over three.
    assert (control.cases, control.rate) == (2, pytest.approx(1 / 3))
    assert (treatment.cases, treatment.rate) == (3, pytest.approx(0.8))
    assert control.interval.contains(1 / 3) and treatment.interval.contains(0.8)
    difference = results.amount_rate_difference
    assert difference.estimate == pytest.approx(0.8 - 1 / 3)
    assert difference.method == "delta-method-mover"
    assert difference.interval.low < difference.estimate < difference.interval.high


def test_a_draft_has_no_cases(services, world):
    with services.sessions() as session:
        draft = add_experiment(session, services.settings.account_id, services.clock.now(),
                               status=ExperimentStatus.draft.value, started_at=None)
        assign(session, draft, "cus_c1", Arm.control)
        session.commit()
        results = experiment_results(session, services.settings.account_id, draft.id)
    assert (results.control.customers, results.control.cases, results.treatment.cases) == (
        1, 0, 0)
    assert results.sequential.looks == 0 and results.recovery_rate_difference.estimate == 0


def test_a_clear_winner_stops_the_sequential_test(services):
    """200 customers per arm: 30% recovered under the control, 60% under the treatment."""
    account = services.settings.account_id
    now = services.clock.now()
    with services.sessions() as session:
        experiment = add_experiment(session, account, now)
        for number in range(400):
            arm = Arm.treatment if number % 2 else Arm.control
            customer = f"cus_{number:04d}"
            assign(session, experiment, customer, arm)
            recovered = (number // 2) % 10 < (6 if arm == Arm.treatment else 3)
            add_case(session, account, customer, now + timedelta(minutes=number),
                     status="recovered" if recovered else "exhausted", amount=1000,
                     ended_after=timedelta(days=1))
        session.commit()
        results = experiment_results(session, account, experiment.id)
    assert (results.control.recovered.rate, results.treatment.recovered.rate) == (0.3, 0.6)
    assert results.sequential.looks == 399
    assert results.sequential.stop and results.sequential.winner == Arm.treatment
    assert results.sequential.p_value < 0.01
    assert not results.recovery_rate_difference.interval.contains(0.0)
    assert results.amount_recovered_per_case_difference.interval.low > 0
