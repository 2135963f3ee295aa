"""``recovery simulate --experiment``: one sandbox run in which the account holds both
policies as versions and an experiment runs between them; each arm's cases follow their own
policy, and the per-arm results come back with intervals."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from recovery.cli import app
from recovery.errors import PolicyError
from recovery.sandbox.experiment import experiment_policies, run_experiment
from recovery.sandbox.run import SimulationConfig

SMALL = SimulationConfig(subscribers=120, days=20, warmup_days=0, seed=5)


def test_an_experiment_runs_end_to_end_and_reports_both_arms():
    control, treatment = experiment_policies("fixed:2,9:default")
    assert (control.offsets_days, treatment.name) == ((2.0, 9.0), "engine default")
    run = run_experiment(SMALL, control, treatment)
    arms = (run.results.control, run.results.treatment)
    assert all(arm.cases > 0 and arm.customers > 0 for arm in arms)
    assert sum(arm.customers for arm in arms) <= SMALL.subscribers
    for arm in arms:
        assert arm.recovered.trials == arm.cases - arm.open_cases
        interval = arm.recovered.interval
        assert interval.low <= arm.recovered.rate <= interval.high
    assert run.results.sequential.looks > 0


@pytest.mark.parametrize("spec", ["default", "default:oracle", "smart:retries-only",
                                  "default:nonsense", "a:b:c"])
def test_an_experiment_needs_two_policies_an_account_can_hold(spec):
    with pytest.raises(PolicyError):
        experiment_policies(spec)


def test_the_command_prints_each_arm_and_keeps_its_database(monkeypatch, tmp_path):
    monkeypatch.setenv("RECOVERY_DATABASE_URL", f"sqlite:///{tmp_path}/cli.db")
    kept = tmp_path / "kept" / "experiment.db"
    result = CliRunner().invoke(app, [
        "simulate", "--experiment", "default:smart", "--subscribers", "40", "--days", "10",
        "--warmup-days", "0", "--keep-database", str(kept)])
    assert result.exit_code == 0, result.output
    printed = unwrapped(result.output)  # the console wraps at its width
    assert "control:enginedefault" in printed and "treatment:smart" in printed
    assert "sequentialtest" in printed and "recoveryratebyamount" in printed
    assert unwrapped(f"database kept: {kept} (experiment 1)") in printed
    # The kept run reads back as the run printed it: the same differences and test.
    shown = CliRunner().invoke(app, ["experiments", "show", "1"],
                               env={"RECOVERY_DATABASE_URL": f"sqlite:///{kept}"})
    assert shown.exit_code == 0, shown.output
    differences = printed.split("recoveryrate,treatment-control")[1].split("walltime")[0]
    assert unwrapped(shown.output).endswith("recoveryrate,treatment-control" + differences)
    refused = CliRunner().invoke(app, ["simulate", "--experiment", "smart"])
    assert refused.exit_code == 2


def unwrapped(text: str) -> str:
    return re.sub(r"\s+", "", text)
