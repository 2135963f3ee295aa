"""``recovery simulate --keep-database`` then ``recovery evaluate-policy`` on the kept log."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from recovery.cli import app


def test_a_fixed_schedule_judged_on_its_own_log_matches_every_case(tmp_path):
    kept = tmp_path / "run.db"
    env = {"RECOVERY_DATABASE_URL": f"sqlite:///{tmp_path / 'unused.db'}",
           "RECOVERY_STRIPE_API_KEY": ""}
    runner = CliRunner()
    simulated = runner.invoke(app, [
        "simulate", "--policy", "fixed:3,8,15", "--subscribers", "250", "--days", "60",
        "--warmup-days", "10", "--report", str(tmp_path / "report"),
        "--keep-database", str(kept)], env=env)
    assert simulated.exit_code == 0, simulated.output
    assert kept.exists()
    judged = runner.invoke(app, [
        "evaluate-policy", "--policy", "fixed:3,8,15", "--database-url", f"sqlite:///{kept}",
        "--resamples", "100"], env=env)
    assert judged.exit_code == 0, judged.output
    cases, matched = map(int, re.search(r"(\d+) cases, (\d+) matched", judged.output).groups())
    # Most cases follow the schedule; the rest had a retry moved off it on purpose (prompt
    # retries after a card update or an accepted offer), which no fixed schedule matches.
    assert cases > 20 and matched >= 0.85 * cases, judged.output
    logged = float(re.search(r"recovered ([\d.]+)% of these cases", judged.output).group(1))
    for row in ("IPW", "doubly robust"):
        low, high = map(float, re.search(row + r"[^\n]*?([\d.]+)% - ([\d.]+)%",
                                         judged.output).groups())
        assert low - 2 <= logged <= high + 2, judged.output  # its own rate, within the interval
    assert "direct method" in judged.output and "outcome model:" in judged.output
    refused = runner.invoke(app, ["evaluate-policy", "--policy", "smart", "--database-url",
                                  f"sqlite:///{kept}"], env=env)
    assert refused.exit_code == 2 and "fixed-timing" in refused.output
