"""A running experiment plans each case with its customer's arm's policy version: the arm is
written once per customer and kept, cases opened after it stopped follow the account's
policy, and promoting an arm makes its document the account's policy."""

from __future__ import annotations

import pytest
from sqlmodel import select

from models import Account, AuditEntry, ExperimentAssignment, RecoveryCase
from recovery.engine import experiments
from recovery.engine.experiments import (
    ExperimentPlan,
    assign_customers,
    promote_experiment,
    start_experiment,
    stop_experiment,
)
from recovery.engine.planning import Planner, PlanRequest
from recovery.engine.policies import uses_smart_timing
from recovery.engine.policy_versions import replace_policy
from recovery.errors import ExperimentError, NotFound
from recovery.reports.policies import active_policy
from recovery.rules.declines import classify_decline
from recovery.rules.experiment_assignment import Arm, assign_arm
from tests.recovery.engine.test_segment_planning import ACCOUNT, first_retries, open_case
from webhooks.facts import DeclineInfo

CONTROL = {"offsets_days": [1, 4, 8], "max_retries": 3, "local_hour": None}
TREATMENT = {"offsets_days": [5, 10], "max_retries": 2, "local_hour": None}
LABEL = classify_decline(DeclineInfo("card_declined", "insufficient_funds"), "visa")


def two_versions(services) -> None:
    for document in (CONTROL, TREATMENT):
        replace_policy(services.sessions, services.clock, account_id=ACCOUNT,
                       document=document, author="test")


def start(services, **changes):
    plan = ExperimentPlan(**{"name": "five days", "control_version": 1,
                             "treatment_version": 2, **changes})
    return start_experiment(services.sessions, services.clock, account_id=ACCOUNT, plan=plan,
                            actor="test")


def plan_cases(services, invoices: list[str], customer_of=lambda invoice: f"cus_{invoice}"):
    now = services.clock.now()
    with services.sessions() as session:
        cases = [open_case(session, invoice, customer=customer_of(invoice), failed_at=now)
                 for invoice in invoices]
        Planner(services.clock).replan_many(
            session, [PlanRequest(case, LABEL, new_decline=True) for case in cases])
        session.commit()
    return cases


def first_offsets(services, cases) -> dict[str, float]:
    return {invoice: (retry.due_at - services.clock.now()).total_seconds() / 86400
            for invoice, retry in first_retries(services, cases).items()}


def assignments(services) -> dict[str, str]:
    with services.sessions() as session:
        rows = session.exec(select(ExperimentAssignment))
        return {row.stripe_customer_id: row.arm for row in rows}


def test_each_arm_is_planned_with_its_own_version(services):
    two_versions(services)  # version 2 (the treatment) is now the account's policy
    experiment = start(services)
    invoices = [f"in_{n}" for n in range(40)]
    cases = plan_cases(services, invoices)
    arms = {f"cus_{invoice}": assign_arm(experiment.id, f"cus_{invoice}").value
            for invoice in invoices}
    assert assignments(services) == arms
    assert set(arms.values()) == {"control", "treatment"}
    offsets = first_offsets(services, cases)
    for invoice in invoices:
        expected = 5 if arms[f"cus_{invoice}"] == "treatment" else 1
        assert offsets[invoice] == pytest.approx(expected), invoice
    with services.sessions() as session:
        stamped = {case.stripe_customer_id: (case.experiment_arm, case.policy_version)
                   for case in session.exec(select(RecoveryCase))}
    assert stamped == {customer: (arm, 2 if arm == "treatment" else 1)
                       for customer, arm in arms.items()}


def test_a_customers_arm_is_written_once_and_kept(services):
    two_versions(services)
    experiment = start(services)
    plan_cases(services, ["in_a"], customer_of=lambda _i: "cus_same")
    first = assignments(services)
    with services.sessions() as session:
        # Whatever a second write would say, the stored arm stands and is what planning uses.
        row = session.exec(select(ExperimentAssignment)).one()
        flipped = Arm.control if row.arm == Arm.treatment.value else Arm.treatment
        row.arm = flipped.value
        session.add(row)
        session.commit()
        assert assign_customers(session, experiment, {"cus_same"},
                                services.clock.now()) == {"cus_same": flipped}
        session.commit()
    cases = plan_cases(services, ["in_b"], customer_of=lambda _i: "cus_same")
    with services.sessions() as session:
        assert len(session.exec(select(ExperimentAssignment)).all()) == 1
    assert first["cus_same"] != flipped.value
    assert first_offsets(services, cases)["in_b"] == pytest.approx(
        5 if flipped == Arm.treatment else 1)


def test_cases_outside_a_running_experiment_follow_the_account_policy(services):
    two_versions(services)
    experiment = start(services)
    stop_experiment(services.sessions, services.clock, account_id=ACCOUNT,
                    experiment_id=experiment.id, actor="test")
    cases = plan_cases(services, [f"in_{n}" for n in range(10)])
    offsets = list(first_offsets(services, cases).values())
    assert len(offsets) == 10 and all(offset == pytest.approx(5) for offset in offsets)
    assert assignments(services) == {}


@pytest.mark.parametrize("changes, error", [
    ({"treatment_version": 1}, ExperimentError),
    ({"treatment_percent": 0}, ExperimentError),
    ({"treatment_percent": 100}, ExperimentError),
    ({"name": " "}, ExperimentError),
    ({"treatment_version": 9}, NotFound),
])
def test_an_invalid_start_writes_nothing(services, changes, error):
    two_versions(services)
    with pytest.raises(error):
        start(services, **changes)
    with services.sessions() as session:
        assert session.exec(select(AuditEntry).where(
            AuditEntry.action.like("experiment.%"))).all() == []


def test_only_one_experiment_runs_at_a_time(services):
    two_versions(services)
    start(services)
    with pytest.raises(ExperimentError, match="running"):
        start(services, name="second")


def test_promoting_the_control_makes_its_document_the_account_policy(services):
    two_versions(services)
    experiment = start(services)
    promoted, version = promote_experiment(services.sessions, services.clock,
                                           account_id=ACCOUNT, experiment_id=experiment.id,
                                           arm="control", actor="test")
    assert (promoted.status, promoted.winner, version.number) == ("promoted", "control", 3)
    active = active_policy(services.sessions, account_id=ACCOUNT)
    assert active.document["offsets_days"] == [1, 4, 8]
    with services.sessions() as session:
        actions = [row.action for row in session.exec(select(AuditEntry))]
    assert actions.count("experiment.start") == 1
    assert "policy.promote" in actions and "experiment.promote" in actions
    with pytest.raises(ExperimentError):
        stop_experiment(services.sessions, services.clock, account_id=ACCOUNT,
                        experiment_id=experiment.id, actor="test")


def test_another_accounts_experiment_is_not_found(services):
    two_versions(services)
    experiment = start(services)
    for change in (stop_experiment, promote_experiment):
        extra = {"arm": "treatment"} if change is promote_experiment else {}
        with pytest.raises(NotFound):
            change(services.sessions, services.clock, account_id="acct_other",
                   experiment_id=experiment.id, actor="test", **extra)
    with services.sessions() as session:
        assert session.get(RecoveryCase, 1) is None  # nothing was planned meanwhile


def test_an_account_trying_smart_timing_has_its_scorer_retrained(services):
    replace_policy(services.sessions, services.clock, account_id=ACCOUNT, document=CONTROL,
                   author="test")
    replace_policy(services.sessions, services.clock, account_id=ACCOUNT,
                   document={**TREATMENT, "timing": "smart"}, author="test")
    replace_policy(services.sessions, services.clock, account_id=ACCOUNT, document=CONTROL,
                   author="test")  # version 3: the account's own policy times nothing

    def smart() -> bool:
        with services.sessions() as session:
            return uses_smart_timing(session, session.get(Account, ACCOUNT))

    assert not smart()
    experiment = start(services, control_version=3)
    assert smart()
    stop_experiment(services.sessions, services.clock, account_id=ACCOUNT,
                    experiment_id=experiment.id, actor="test")
    assert not smart()


def test_a_racing_insert_of_the_same_customer_keeps_the_first_row(services, monkeypatch):
    two_versions(services)
    experiment = start(services)
    now = services.clock.now()
    with services.sessions() as session:  # another worker got there first, with its own arm
        session.add(ExperimentAssignment(experiment_id=experiment.id, account_id=ACCOUNT,
                                         stripe_customer_id="cus_race", arm="treatment",
                                         assigned_at=now))
        session.add(ExperimentAssignment(experiment_id=experiment.id, account_id=ACCOUNT,
                                         stripe_customer_id="cus_race2", arm="control",
                                         assigned_at=now))
        session.commit()
    real, reads = experiments._stored_arms, []

    def first_read_sees_nothing(*args):
        reads.append(args)
        return {} if len(reads) == 1 else real(*args)

    monkeypatch.setattr(experiments, "_stored_arms", first_read_sees_nothing)
    with services.sessions() as session:
        arms = assign_customers(session, experiment, {"cus_race", "cus_race2", "cus_new"}, now)
        session.commit()
    assert arms["cus_race"] == Arm.treatment and arms["cus_race2"] == Arm.control
    assert arms["cus_new"] == assign_arm(experiment.id, "cus_new")
    assert len(assignments(services)) == 3 and len(reads) == 2
