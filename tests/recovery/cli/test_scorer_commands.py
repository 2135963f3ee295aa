"""``recovery train`` and ``recovery models list|promote|rollback`` against a real database."""

from __future__ import annotations

from typer.testing import CliRunner

from ml.registry import active_artifact, list_versions
from recovery.cli import app
from tests.ml.synthetic import write_log


def run(services, *args: str):
    env = {"RECOVERY_DATABASE_URL": services.settings.database_url,
           "RECOVERY_STRIPE_API_KEY": ""}
    return CliRunner().invoke(app, list(args), env=env)


def test_train_refuses_with_too_little_history(services):
    result = run(services, "train")
    assert result.exit_code == 0, result.output
    assert "fewer than the 500 needed: no model trained" in result.output
    assert "models" in run(services, "--help").output


def test_train_prints_metrics_and_promotes_then_list_promote_rollback(services):
    with services.sessions() as session:
        write_log(session, customers=200, months=9)
        session.commit()
    trained = run(services, "train")
    assert trained.exit_code == 0, trained.output
    for shown in ("log loss", "Brier", "ROC AUC", "baseline", "calibration", "observed",
                  "promoted: hold-out log loss"):
        assert shown in trained.output
    with services.sessions() as session:
        first = active_artifact(session, "acct_default").version
    again = run(services, "train", "--min-attempts", "100")
    assert again.exit_code == 0, again.output
    assert "does not beat the active version" in again.output or "promoted" in again.output
    with services.sessions() as session:
        versions = [row.version for row in list_versions(session, "acct_default")]
    listed = run(services, "models", "list")
    assert listed.exit_code == 0 and all(v in listed.output for v in versions)
    newest = versions[0]
    assert run(services, "models", "promote", newest).exit_code == 0
    assert run(services, "models", "promote", "v0-nothing").exit_code == 1
    with services.sessions() as session:
        assert active_artifact(session, "acct_default").version == newest
    if newest != first:
        rolled = run(services, "models", "rollback")
        assert rolled.exit_code == 0 and first in rolled.output


def test_the_commands_default_minimum_is_the_promotion_rules():
    from ml.promotion import MIN_ATTEMPTS
    from recovery.cli import scorer

    assert scorer.MIN_ATTEMPTS == MIN_ATTEMPTS


def test_starting_a_command_does_not_import_scikit_learn():
    """``serve`` and ``worker`` start (and stop) fast: ml's heavy imports wait for first use."""
    import subprocess
    import sys

    code = ("import sys, recovery.cli, recovery.app, recovery.worker.process; "
            "print(sorted(m for m in ('sklearn', 'pandas', 'skops') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
