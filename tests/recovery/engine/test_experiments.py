"""Setting up and starting an account's A/B experiments: drafts checked when made, one running
experiment per account, another account's not found, every change audited."""

from __future__ import annotations

import pytest
from sqlmodel import select

from models import Account, AuditEntry, Experiment, PolicyVersion
from recovery.engine.experiments import create_experiment, start_experiment
from recovery.engine.policy_versions import replace_policy
from recovery.errors import ExperimentError, NotFound
from recovery.runtime.db import transaction


@pytest.fixture(autouse=True)
def two_versions(services) -> None:
    """Versions 1 (weekly) and 2 (smart) of the settings' account's policy."""
    for document in ({"offsets_days": [7, 14, 21]}, {"timing": "smart"}):
        replace_policy(services.sessions, services.clock,
                       account_id=services.settings.account_id, document=document,
                       author="test")


def make(services, **overrides) -> int:
    arguments = {"account_id": services.settings.account_id, "name": "weekly vs smart",
                 "control_version": 1, "treatment_version": 2, "treatment_percent": 30,
                 "actor": "token:7", **overrides}
    return create_experiment(services.sessions, services.clock, **arguments)


def version_ids(services, account_id: str) -> dict[int, int]:
    with services.sessions() as session:
        return {row.number: row.id for row in session.exec(
            select(PolicyVersion).where(PolicyVersion.account_id == account_id))}


def test_a_new_experiment_is_a_draft_with_its_arms_and_split(services):
    experiment_id = make(services)
    with services.sessions() as session:
        experiment = session.get(Experiment, experiment_id)
        audit = session.exec(select(AuditEntry).where(AuditEntry.action == "experiment.create"))
        entry = audit.one()
    assert (experiment.status, experiment.treatment_percent, experiment.created_by) == (
        "draft", 30, "token:7")
    versions = version_ids(services, services.settings.account_id)
    assert (experiment.control_policy_version_id, experiment.treatment_policy_version_id) == (
        versions[1], versions[2])
    assert entry.target == f"experiment:{experiment_id}" and entry.after["treatment_version"] == 2


@pytest.mark.parametrize(("overrides", "problem"), [
    ({"name": "  "}, "name"),
    ({"treatment_version": 1}, "different policy versions"),
    ({"control_version": 0}, "policy version number"),
    ({"treatment_version": 3}, "no policy version 3"),
    ({"treatment_percent": 100}, "1 to 99"),
])
def test_a_draft_that_cannot_work_is_refused(services, overrides, problem):
    with pytest.raises(ExperimentError, match=problem):
        make(services, **overrides)
    with services.sessions() as session:
        assert session.exec(select(Experiment)).first() is None


def test_starting_runs_it_once_and_only_one_experiment_runs_at_a_time(services):
    first, second = make(services), make(services, name="second")
    start_experiment(services.sessions, services.clock, account_id=services.settings.account_id,
                     experiment_id=first, actor="token:7")
    with services.sessions() as session:
        started = session.get(Experiment, first)
    assert (started.status, started.started_at) == ("running", services.clock.now())
    with pytest.raises(ExperimentError, match="only a draft"):
        start_experiment(services.sessions, services.clock,
                         account_id=services.settings.account_id, experiment_id=first,
                         actor="token:7")
    with pytest.raises(ExperimentError, match=f"experiment {first} is running"):
        start_experiment(services.sessions, services.clock,
                         account_id=services.settings.account_id, experiment_id=second,
                         actor="token:7")


def test_another_accounts_experiment_and_versions_are_not_found(services):
    with transaction(services.sessions) as session:
        session.add(Account(id="acct_other", name="other", created_at=services.clock.now()))
    with pytest.raises(ExperimentError, match="no policy version 1"):
        make(services, account_id="acct_other")  # version numbers are the account's own
    replace_policy(services.sessions, services.clock, account_id="acct_other",
                   document={"max_retries": 2}, author="test")
    replace_policy(services.sessions, services.clock, account_id="acct_other",
                   document={"max_retries": 3}, author="test")
    theirs = make(services, account_id="acct_other")
    with pytest.raises(NotFound):
        start_experiment(services.sessions, services.clock,
                         account_id=services.settings.account_id, experiment_id=theirs,
                         actor="token:7")
    with services.sessions() as session:
        assert session.get(Experiment, theirs).status == "draft"
