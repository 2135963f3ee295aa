"""The sandbox drives the real engine: a World plugged in through ``--world`` sees exactly the
engine's charges and messages, refused charges never reach it, and runs are reproducible.
With ``--keep-renewing`` (the default of ``--compare``) dunning ends without ending
subscriptions, so every policy faces the same renewals, and every report says which mode ran."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from models import ActionKind, ChargeAttempt, Message, ScheduledAction
from recovery.cli import app
from recovery.rules.policy import RetryPolicy
from recovery.sandbox import simulate
from recovery.sandbox.metrics import RunMetrics
from recovery.sandbox.policies import fixed
from recovery.sandbox.run import Sandbox, SimulationConfig, temporary_workdir
from recovery.sandbox.simulate import run_policy
from recovery.sandbox.world.channel import AS_WORLD_KIND
from recovery.sandbox.world.contract import Cancelled, ChargeResult
from tests.recovery import sim_world

WORLD = "tests.recovery.sim_world:make_world"


def test_a_world_plugged_in_from_the_command_line_drives_a_run(tmp_path):
    report = tmp_path / "report.json"
    result = CliRunner().invoke(app, [
        "simulate", "--world", WORLD, "--subscribers", "2", "--days", "6", "--warmup-days", "0",
        "--seed", "101", "--policy", "fixed:1,2,3", "--processes", "1", "--report", str(report)])
    assert result.exit_code == 0, result.output
    (figures,) = json.loads(report.read_text())["results"]
    calls = sim_world.CALLS[101]
    assert figures["failed_invoices"] > 0 and figures["violations"] == 0
    # Every charge the world answered was Stripe's first attempt or one of the engine's retries.
    assert len(calls.charges) == figures["invoices_simulated"] + figures["retries"]
    assert figures["refusals"] > 0
    assert report.with_suffix(".html").exists()


def test_the_world_sees_exactly_the_engines_charges_and_messages():
    config = SimulationConfig(world=WORLD, subscribers=2, days=6, warmup_days=0, seed=202)
    with temporary_workdir() as workdir:
        sandbox = Sandbox(config, fixed((1, 2, 3)), Path(workdir))
        sandbox.run()
        calls = sim_world.CALLS[202]
        with sandbox.services.sessions() as session:
            attempts = list(session.exec(select(ChargeAttempt)))
            messages = list(session.exec(select(Message)))
            refused = [a for a in session.exec(select(ScheduledAction).where(
                ScheduledAction.kind == ActionKind.retry.value)) if a.result and "refused"
                in a.result]
        engine_charges = sorted((a.stripe_invoice_id, a.attempted_at) for a in attempts
                                if a.by == "engine")
        world_retries = sorted((inv, at) for _s, inv, _fp, at in calls.charges
                               if (inv, at) not in {(i, t) for i, t in first_attempts(calls)})
        assert engine_charges == world_retries
        # The World hears a reminder as a failure notice: its list of kinds is fixed.
        assert sorted((AS_WORLD_KIND.get(m.kind, m.kind), m.sent_at) for m in messages) == sorted(
            (m.kind, m.sent_at) for m in calls.messages)
        assert refused, "the daily renewals should make the network rules refuse some retries"
        for action in refused:
            invoice = session_invoice(sandbox, action.case_id)
            assert all(not (inv == invoice and at == action.finished_at)
                       for _s, inv, _fp, at in calls.charges)
        windows = calls.windows
        assert all(a[1] == b[0] for a, b in zip(windows, windows[1:], strict=False))
        sandbox.close()


def first_attempts(calls) -> list[tuple[str, object]]:
    seen, firsts = set(), []
    for _s, invoice, _fp, at in calls.charges:
        if invoice not in seen:
            seen.add(invoice)
            firsts.append((invoice, at))
    return firsts


def session_invoice(sandbox, case_id: int) -> str:
    from models import RecoveryCase

    with sandbox.services.sessions() as session:
        return session.get(RecoveryCase, case_id).stripe_invoice_id


def test_a_run_is_reproducible():
    config = SimulationConfig(subscribers=60, days=20, warmup_days=5, seed=7)
    first = run_policy(config, fixed((1, 3, 5))).to_dict()
    second = run_policy(config, fixed((1, 3, 5))).to_dict()
    for figures in (first, second):
        figures.pop("wall_seconds")
    assert first == second
    assert first["failed_invoices"] > 0
    # The breakdown by the first failure's decline class covers every failed invoice once.
    by_class = first["by_decline_class"]
    assert sum(failed for failed, _ in by_class.values()) == first["failed_invoices"]
    assert sum(recovered for _, recovered in by_class.values()) == first["recovered"]
    assert "unknown" not in by_class


# --- --keep-renewing ---------------------------------------------------------------------------

HERE = "tests.recovery.sandbox.test_simulate"
# Dunning ends two days after the first failure, and then cancels the subscription.
CANCELS_AT_THE_END = RetryPolicy(name="short, cancels", offsets_days=(1,), max_retries=1,
                                 window_days=2, local_hour=None, end_subscription="cancel")


class NeverPaysWorld(sim_world.DailyWorld):
    """Every charge is declined; subscriber s1 cancels on day 3."""

    def charge(self, subscriber_id, invoice_id, card_fingerprint, amount, currency, at):
        self.calls.charges.append((subscriber_id, invoice_id, card_fingerprint, at))
        return ChargeResult(paid=False, failure_code="card_declined",
                            decline_code="insufficient_funds", network_decline_code="51")

    def actions(self, start, end):
        leaves = self._subscribers[0].created_at + timedelta(days=3)
        return [Cancelled("s1", leaves)] if start <= leaves < end else []


def never_pays(*, seed, start, subscribers):
    return NeverPaysWorld(seed, start, subscribers)


def renewals_by_subscriber(keep_renewing: bool, seed: int) -> tuple[Counter, dict]:
    config = SimulationConfig(world=f"{HERE}:never_pays", subscribers=2, days=8,
                              warmup_days=0, seed=seed, keep_renewing=keep_renewing)
    with temporary_workdir() as workdir:
        sandbox = Sandbox(config, CANCELS_AT_THE_END, Path(workdir))
        try:
            sandbox.run()
            calls = sandbox.fake.api_calls()
        finally:
            sandbox.close()
    invoices = {(sub, invoice) for sub, invoice, _fp, _at in sim_world.CALLS[seed].charges}
    return Counter(sub for sub, _invoice in invoices), calls


def test_keep_renewing_keeps_subscriptions_renewing_after_dunning_ends():
    ended, ended_calls = renewals_by_subscriber(False, seed=404)
    kept, kept_calls = renewals_by_subscriber(True, seed=405)
    # The policy's own ending cancels s0 after its first dunning; kept, it renews every day.
    assert ended_calls.get("DELETE /v1/subscriptions/{id}", 0) > 0
    assert ended["s0"] < 8 and kept["s0"] == 8
    assert "DELETE /v1/subscriptions/{id}" not in kept_calls
    # A customer who cancels still leaves, in both modes.
    assert kept["s1"] == ended["s1"] < 8


def fake_run_many(seen: list):
    def run_many(config, policies, *, processes, on_done=None):
        seen.append(config)
        return [RunMetrics(policy=policy.name, failed_invoices=1) for policy in policies]
    return run_many


@pytest.mark.parametrize(("flags", "keeps"), [
    (["--compare"], True),
    (["--compare", "--policy-endings"], False),
    (["--policy", "fixed:1"], False),
    (["--policy", "fixed:1", "--keep-renewing"], True),
])
def test_compare_keeps_renewing_and_every_report_says_which_mode_ran(tmp_path, monkeypatch,
                                                                     flags, keeps):
    seen = []
    monkeypatch.setattr(simulate, "run_many", fake_run_many(seen))
    report = tmp_path / "report.json"
    result = CliRunner().invoke(app, ["simulate", *flags, "--report", str(report)])
    assert result.exit_code == 0, result.output
    (config,) = seen
    assert config.keep_renewing is keeps
    body = json.loads(report.read_text())
    assert body["config"]["keep_renewing"] is keeps and body["mode"] == config.mode
    assert config.mode.startswith("keep renewing" if keeps else "policy endings")
    assert config.mode in " ".join(result.output.split())
    assert config.mode in report.with_suffix(".html").read_text()
