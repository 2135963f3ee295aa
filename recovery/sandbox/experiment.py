"""``recovery simulate --experiment CONTROL:TREATMENT``: one run in which the sandbox account
holds both policies as versions and an experiment between them runs from the first day, so a
team sees the experiment work (assignment, per-arm planning, results) before running it live.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from recovery.errors import PolicyError
from recovery.reports.experiments import ExperimentResults, experiment_results
from recovery.rules.policy import RetryPolicy
from recovery.runtime import migrations
from recovery.sandbox.policies import is_oracle, resolve_policy, sends_messages
from recovery.sandbox.run import Sandbox, SimulationConfig, temporary_workdir


@dataclass(frozen=True)
class ExperimentRun:
    control: str  # the policies' names
    treatment: str
    results: ExperimentResults
    invoices_simulated: int
    wall_seconds: float


def experiment_policies(spec: str, database_url: str | None = None
                        ) -> tuple[RetryPolicy, RetryPolicy]:
    """``CONTROL:TREATMENT`` -> the two policies, each named as ``--policy`` names one (a
    ``fixed:`` schedule may be either side: ``fixed:1,3,5:smart``)."""
    control, treatment = _split(spec)
    policies = (resolve_policy(control, database_url), resolve_policy(treatment, database_url))
    for policy in policies:
        # Both arms are stored documents: the oracle's look-ahead scorer and a run without
        # messages are settings of a whole run, not of a policy an account can hold.
        if is_oracle(policy) or not sends_messages(policy):
            raise PolicyError(f"{policy.name!r} cannot be an arm of an experiment")
    return policies


def _split(spec: str) -> tuple[str, str]:
    parts = spec.split(":")
    # "fixed:" takes the part after it as its days.
    joined, index = [], 0
    while index < len(parts):
        part = parts[index]
        if part == "fixed" and index + 1 < len(parts):
            part, index = f"fixed:{parts[index + 1]}", index + 1
        joined.append(part)
        index += 1
    if len(joined) != 2 or not all(joined):
        raise PolicyError(f"--experiment takes CONTROL:TREATMENT, e.g. default:smart, "
                          f"not {spec!r}")
    return joined[0], joined[1]


def run_experiment(config: SimulationConfig, control: RetryPolicy, treatment: RetryPolicy, *,
                   keep_database: Path | None = None) -> ExperimentRun:
    """One full run with the experiment running from the start; its per-arm results.
    ``keep_database``: copy the run's SQLite file there before its temporary folder goes (to
    read it later: ``recovery experiments show``, the dashboard)."""
    logging.getLogger().setLevel(logging.WARNING)  # the engine's INFO lines would drown a run
    started = time.perf_counter()
    with temporary_workdir() as workdir:
        template = Path(workdir) / "template.db"
        migrations.upgrade(f"sqlite:///{template}")
        sandbox = Sandbox(config, control, Path(workdir), template_db=template,
                          treatment=treatment)
        try:
            sandbox.run()
            with sandbox.services.sessions() as session:
                results = experiment_results(session, sandbox.services.settings.account_id,
                                             sandbox.experiment_id)
            invoices = sandbox.invoices
        finally:
            sandbox.close()
        if keep_database is not None:
            Path(keep_database).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(Path(workdir) / "sandbox.db", keep_database)
    return ExperimentRun(control.name, treatment.name, results, invoices,
                         time.perf_counter() - started)
