"""``recovery experiments``: start between two policy versions, list, show the per-arm table,
stop and promote; refusals exit 2 and change nothing."""

from __future__ import annotations

from sqlmodel import select

from models import Experiment
from tests.recovery.cli.test_cli import run


def test_start_list_show_stop_and_promote(services):
    run(services, "policy", "set", '{"name": "weekly", "offsets_days": [2, 7]}')
    run(services, "policy", "set", '{"name": "daily", "offsets_days": [1, 2, 3]}')
    assert run(services, "experiments", "start", "1", "1", "--name", "same").exit_code == 2
    assert run(services, "experiments", "start", "1", "5", "--name", "missing").exit_code == 2
    started = run(services, "experiments", "start", "1", "2", "--name", "daily or weekly",
                  "--treatment-percent", "20")
    assert started.exit_code == 0 and "experiment 1 running" in started.output, started.output
    listed = run(services, "experiments", "list")
    assert "running" in listed.output and "v2" in listed.output, listed.output
    shown = run(services, "experiments", "show", "1")
    assert shown.exit_code == 0 and "recovered (count)" in shown.output, shown.output
    assert "sequential test" in shown.output
    assert "recovered (amount)" in shown.output and "recovery rate by amount" in shown.output
    assert run(services, "experiments", "show", "9").exit_code == 2
    assert run(services, "experiments", "stop", "1").exit_code == 0
    assert run(services, "experiments", "stop", "1").exit_code == 2
    assert run(services, "experiments", "promote", "1", "neither").exit_code == 2
    promoted = run(services, "experiments", "promote", "1", "treatment")
    assert "as version 3" in promoted.output, promoted.output
    assert '"daily"' in run(services, "policy", "show").output
    with services.sessions() as session:
        experiment = session.exec(select(Experiment)).one()
    assert (experiment.status, experiment.winner, experiment.treatment_percent) == (
        "promoted", "treatment", 20)
