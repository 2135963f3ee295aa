"""Setting up an A/B experiment between two of an account's policy versions, and starting it.

An experiment is made as a draft (its arms and split can still be thought over) and started
once: from then on its split is fixed, because customers' arms are kept. An account runs at most
one experiment at a time, so a customer's case never has two arms to follow. Each change is
written with an audit row in the same transaction.
"""

from __future__ import annotations

from sqlmodel import Session, select

from models import Account, Experiment, ExperimentStatus, PolicyVersion
from recovery.accounts.audit import record_change
from recovery.engine.policy_versions import version_row
from recovery.errors import ExperimentError, NotFound
from recovery.rules.experiment_assignment import validate_treatment_percent
from recovery.runtime.clock import Clock
from recovery.runtime.db import SessionFactory, transaction

MAX_NAME = 200


def create_experiment(sessions: SessionFactory, clock: Clock, *, account_id: str, name: str,
                      control_version: int, treatment_version: int,
                      treatment_percent: int = 50, actor: str) -> int:
    """A draft experiment between two of the account's policy versions (by number); its id.
    ``ExperimentError`` for a blank name, a version the account does not have, the same version
    in both arms, or a split outside 1-99%."""
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise ExperimentError(f"an experiment needs a name of 1 to {MAX_NAME} characters")
    if control_version == treatment_version:
        raise ExperimentError("the two arms need different policy versions")
    validate_treatment_percent(treatment_percent)
    with transaction(sessions) as session:
        control, treatment = (_version(session, account_id, number)
                              for number in (control_version, treatment_version))
        experiment = Experiment(account_id=account_id, name=name,
                                control_policy_version_id=control.id,
                                treatment_policy_version_id=treatment.id,
                                treatment_percent=treatment_percent, created_by=actor,
                                created_at=clock.now())
        session.add(experiment)
        session.flush()
        record_change(session, clock, account_id=account_id, actor=actor,
                      action="experiment.create", target=f"experiment:{experiment.id}",
                      after={"name": name, "control_version": control_version,
                             "treatment_version": treatment_version,
                             "treatment_percent": treatment_percent})
        return experiment.id


def _version(session: Session, account_id: str, number: int) -> PolicyVersion:
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise ExperimentError("each arm needs a policy version number (1, 2, ...)")
    try:
        return version_row(session, account_id, number)
    except NotFound:
        raise ExperimentError(f"the account has no policy version {number}") from None


def start_experiment(sessions: SessionFactory, clock: Clock, *, account_id: str,
                     experiment_id: int, actor: str) -> None:
    """Start a draft (``NotFound`` for another account's; ``ExperimentError`` if it is not a
    draft or another experiment of the account is running)."""
    with transaction(sessions) as session:
        # The account row is locked, so two starts at once cannot both find nothing running
        # (PostgreSQL; SQLite has one writer at a time anyway).
        session.exec(select(Account.id).where(Account.id == account_id).with_for_update())
        experiment = session.exec(select(Experiment).where(
            Experiment.id == experiment_id, Experiment.account_id == account_id)).first()
        if experiment is None:
            raise NotFound(f"no experiment {experiment_id} in this account")
        if experiment.status != ExperimentStatus.draft.value:
            raise ExperimentError(f"experiment {experiment_id} is {experiment.status}: only a "
                                  "draft can be started")
        running = session.exec(select(Experiment.id).where(
            Experiment.account_id == account_id,
            Experiment.status == ExperimentStatus.running.value)).first()
        if running is not None:
            raise ExperimentError(f"experiment {running} is running: stop it first")
        experiment.status = ExperimentStatus.running.value
        experiment.started_at = clock.now()
        record_change(session, clock, account_id=account_id, actor=actor,
                      action="experiment.start", target=f"experiment:{experiment_id}",
                      before={"status": ExperimentStatus.draft.value},
                      after={"status": ExperimentStatus.running.value})
