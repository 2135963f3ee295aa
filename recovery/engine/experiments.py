"""A/B experiments between two policy versions of an account: started, stopped and promoted
here (each with its audit row), and the arm each customer is in, written once.

At most one experiment runs per account. While it runs, a case opened since it started whose
customer is known follows the policy version of the customer's arm (``policies.case_policies``);
every other case follows the account's own policy. A customer's arm is a pure function of the
experiment and the customer (``rules.experiment_assignment``); its row is inserted the first time
one of their cases is planned, and a second insert for the same customer, even one racing in
another process, leaves the first in place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, select

from models import (
    Account,
    Experiment,
    ExperimentAssignment,
    ExperimentStatus,
    PolicyVersion,
    RecoveryCase,
)
from recovery.accounts.audit import record_change
from recovery.engine.policy_versions import PolicyVersionInfo, adopt_version, version_row
from recovery.errors import ExperimentError, NotFound
from recovery.rules.experiment_assignment import Arm, assign_arm, validate_treatment_percent
from recovery.runtime.clock import Clock
from recovery.runtime.db import SessionFactory, transaction


@dataclass(frozen=True)
class ExperimentPlan:
    """What a caller asks for: the account's policy versions by their numbers."""

    name: str
    control_version: int
    treatment_version: int
    treatment_percent: int = 50


def start_experiment(sessions: SessionFactory, clock: Clock, *, account_id: str,
                     plan: ExperimentPlan, actor: str) -> Experiment:
    """Start an experiment between two of the account's versions (``ExperimentError`` if the
    versions are the same, the split is outside 1-99% or another one is running; ``NotFound``
    if a version does not exist; nothing is written then)."""
    validate_treatment_percent(plan.treatment_percent)
    name = (plan.name or "").strip()
    if not name or len(name) > 200:
        raise ExperimentError("an experiment needs a name of 1 to 200 characters")
    if plan.control_version == plan.treatment_version:
        raise ExperimentError("the control and the treatment must be different versions")
    with transaction(sessions) as session:
        _lock_account(session, account_id)
        if running_experiment(session, account_id) is not None:
            raise ExperimentError("another experiment is running in this account: stop it first")
        control = version_row(session, account_id, plan.control_version)
        treatment = version_row(session, account_id, plan.treatment_version)
        now = clock.now()
        experiment = Experiment(
            account_id=account_id, name=name, control_policy_version_id=control.id,
            treatment_policy_version_id=treatment.id, treatment_percent=plan.treatment_percent,
            status=ExperimentStatus.running.value, started_at=now, created_by=actor,
            created_at=now)
        session.add(experiment)
        session.flush()
        record_change(session, clock, account_id=account_id, actor=actor,
                      action="experiment.start", target=f"experiment:{experiment.id}",
                      after={"name": name, "control_version": control.number,
                             "treatment_version": treatment.number,
                             "treatment_percent": plan.treatment_percent})
        return experiment


def stop_experiment(sessions: SessionFactory, clock: Clock, *, account_id: str,
                    experiment_id: int, actor: str) -> Experiment:
    """Stop a running experiment: no one more is assigned, its results are final."""
    with transaction(sessions) as session:
        experiment = _owned(session, account_id, experiment_id)
        if experiment.status != ExperimentStatus.running.value:
            raise ExperimentError(f"experiment {experiment_id} is {experiment.status}, "
                                  "not running")
        _stop(session, clock, experiment, actor, ExperimentStatus.stopped)
        return experiment


def promote_experiment(sessions: SessionFactory, clock: Clock, *, account_id: str,
                       experiment_id: int, arm: str, actor: str
                       ) -> tuple[Experiment, PolicyVersionInfo]:
    """Make ``arm``'s policy version the account's policy, as a new version, and end the
    experiment (stopping it first if it still runs), in one transaction."""
    try:
        winner = Arm(arm)
    except ValueError:
        raise ExperimentError(f"arm must be control or treatment, not {arm!r}") from None
    with transaction(sessions) as session:
        experiment = _owned(session, account_id, experiment_id)
        if experiment.status not in (ExperimentStatus.running.value,
                                     ExperimentStatus.stopped.value):
            raise ExperimentError(f"experiment {experiment_id} is {experiment.status}: only a "
                                  "running or stopped one can be promoted")
        version = session.get(PolicyVersion, arm_version_id(experiment, winner))
        if version is None or version.account_id != account_id:
            raise NotFound(f"the {winner.value} arm's policy version no longer exists")
        adopted = adopt_version(session, clock, account_id=account_id, row=version,
                                author=actor, note=f"promoted from experiment {experiment_id}",
                                action="policy.promote")
        experiment.winner = winner.value
        _stop(session, clock, experiment, actor, ExperimentStatus.promoted)
        return experiment, adopted


def find_experiment(session: Session, account_id: str, experiment_id: int) -> Experiment:
    """The account's experiment; another account's, or none, is ``NotFound``."""
    return _owned(session, account_id, experiment_id)


def running_experiment(session: Session, account_id: str) -> Experiment | None:
    return session.exec(select(Experiment).where(
        Experiment.account_id == account_id,
        Experiment.status == ExperimentStatus.running.value)).first()


def arm_version_id(experiment: Experiment, arm: Arm) -> int:
    return experiment.treatment_policy_version_id if arm == Arm.treatment \
        else experiment.control_policy_version_id


def arm_versions(session: Session, experiment: Experiment) -> dict[Arm, PolicyVersion | None]:
    """Each arm's policy version row (None: deleted since, which nothing does today)."""
    return {arm: session.get(PolicyVersion, arm_version_id(experiment, arm)) for arm in Arm}


def case_arm_versions(session: Session, cases: Sequence[RecoveryCase],
                      now: datetime) -> dict[int, PolicyVersion]:
    """The policy version of each case's arm, by case id, for the cases that are in a running
    experiment (opened since it started, with a customer id); assigns their customers."""
    chosen: dict[int, PolicyVersion] = {}
    for account_id in {case.account_id for case in cases}:
        experiment = running_experiment(session, account_id)
        if experiment is None:
            continue
        mine = [case for case in cases if case.account_id == account_id
                and case.stripe_customer_id and case.created_at >= experiment.started_at]
        arms = assign_customers(session, experiment, {c.stripe_customer_id for c in mine}, now)
        versions = arm_versions(session, experiment)
        for case in mine:
            arm = arms[case.stripe_customer_id]
            version = versions[arm]
            if version is not None:
                chosen[case.id] = version
                # Kept on the case, so the metrics can group recovery rates by arm and policy.
                case.experiment_arm, case.policy_version = arm.value, version.number
    return chosen


def assign_customers(session: Session, experiment: Experiment, customers: set[str],
                     now: datetime) -> dict[str, Arm]:
    """Each customer's arm, inserting the rows not written yet. The insert skips a customer
    whose row exists (or appears meanwhile), so the stored arm always wins."""
    if not customers:
        return {}
    known = _stored_arms(session, experiment.id, customers)
    missing = sorted(customers - known.keys())
    if missing:
        rows = [{"experiment_id": experiment.id, "account_id": experiment.account_id,
                 "stripe_customer_id": customer,
                 "arm": assign_arm(experiment.id, customer, experiment.treatment_percent).value,
                 "assigned_at": now} for customer in missing]
        insert = postgres_insert if session.get_bind().dialect.name == "postgresql" \
            else sqlite_insert
        session.execute(insert(ExperimentAssignment).values(rows).on_conflict_do_nothing(
            index_elements=["experiment_id", "stripe_customer_id"]))
        known.update(_stored_arms(session, experiment.id, set(missing)))
    return known


def _stored_arms(session: Session, experiment_id: int, customers: set[str]) -> dict[str, Arm]:
    rows = session.exec(select(ExperimentAssignment.stripe_customer_id, ExperimentAssignment.arm)
                        .where(ExperimentAssignment.experiment_id == experiment_id,
                               ExperimentAssignment.stripe_customer_id.in_(customers)))
    return {customer: Arm(arm) for customer, arm in rows}


def _owned(session: Session, account_id: str, experiment_id: int) -> Experiment:
    experiment = session.exec(select(Experiment).where(
        Experiment.id == experiment_id, Experiment.account_id == account_id)).first()
    if experiment is None:
        raise NotFound(f"no experiment {experiment_id} in this account")
    return experiment


def _lock_account(session: Session, account_id: str) -> None:
    # Two starts at once take turns on the account row, so only one can find none running
    # (PostgreSQL; SQLite has one writer at a time anyway).
    if session.exec(select(Account).where(Account.id == account_id)
                    .with_for_update()).first() is None:
        raise NotFound(f"no account {account_id}")


def _stop(session: Session, clock: Clock, experiment: Experiment, actor: str,
          status: ExperimentStatus) -> None:
    before = {"status": experiment.status}
    action = "experiment.promote" if status == ExperimentStatus.promoted else "experiment.stop"
    experiment.status = status.value
    experiment.stopped_at = experiment.stopped_at or clock.now()
    session.add(experiment)
    record_change(session, clock, account_id=experiment.account_id, actor=actor,
                  action=action,
                  target=f"experiment:{experiment.id}", before=before,
                  after={"status": experiment.status, "winner": experiment.winner})
