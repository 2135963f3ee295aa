"""The sandbox drives the real engine: a World plugged in through ``--world`` sees exactly the
engine's charges and messages, refused charges never reach it, and runs are reproducible."""

from __future__ import annotations

import json
from pathlib import Path

from sqlmodel import select
from typer.testing import CliRunner

from models import ActionKind, ChargeAttempt, Message, ScheduledAction
from recovery.cli import app
from recovery.sandbox.policies import fixed
from recovery.sandbox.run import Sandbox, SimulationConfig, temporary_workdir
from recovery.sandbox.simulate import run_policy
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
        assert sorted((m.kind, m.sent_at) for m in messages) == sorted(
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
