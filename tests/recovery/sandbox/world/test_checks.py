"""A World action or value of a type or value the contract does not know is a clear error, never
silently skipped: in a run, through the command line, and in a charge the engine itself makes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from recovery.cli import app
from recovery.sandbox.policies import fixed
from recovery.sandbox.run import Sandbox, SimulationConfig, temporary_workdir
from recovery.sandbox.world.checks import (
    WorldContractError,
    check_actions,
    check_charge_result,
)
from recovery.sandbox.world.contract import Cancelled, ChargeResult, OfferAccepted
from tests.recovery.sim_world import DailyWorld

HERE = "tests.recovery.sandbox.world.test_checks"
START = datetime(2026, 1, 5, tzinfo=UTC)


@dataclass(frozen=True)
class Refund:  # not a customer action the contract knows
    subscriber_id: str
    at: datetime


class WorldWithUnknownAction(DailyWorld):
    def actions(self, start, end):
        return [Refund("s0", start)]


class WorldWithUnknownAdvice(DailyWorld):
    def charge(self, *args):
        return ChargeResult(paid=False, failure_code="card_declined",
                            decline_code="insufficient_funds", advice_code="call_me_maybe")


class WorldThatAnswersWithADict(DailyWorld):
    def charge(self, *args):
        return {"paid": True}


class WorldBrokenOnRetries(DailyWorld):
    """Declines the renewal properly, then answers the engine's retry with a made-up code."""

    def charge(self, subscriber_id, invoice_id, *args):
        if self._attempts[invoice_id]:
            return ChargeResult(paid=False, failure_code="card_declined",
                                decline_code="bank_on_holiday")
        self._attempts[invoice_id] += 1
        return ChargeResult(paid=False, failure_code="card_declined",
                            decline_code="insufficient_funds", network_decline_code="51")


def unknown_action(*, seed, start, subscribers):
    return WorldWithUnknownAction(seed, start, subscribers)


def unknown_advice(*, seed, start, subscribers):
    return WorldWithUnknownAdvice(seed, start, subscribers)


def dict_answer(*, seed, start, subscribers):
    return WorldThatAnswersWithADict(seed, start, subscribers)


def broken_on_retries(*, seed, start, subscribers):
    return WorldBrokenOnRetries(seed, start, subscribers)


def run(world: str) -> None:
    config = SimulationConfig(world=f"{HERE}:{world}", subscribers=2, days=4, warmup_days=0,
                              seed=303)
    with temporary_workdir() as workdir:
        sandbox = Sandbox(config, fixed((1, 2)), Path(workdir))
        try:
            sandbox.run()
        finally:
            sandbox.close()


@pytest.mark.parametrize(("world", "message"), [
    ("unknown_action", "returned a Refund"),
    ("unknown_advice", "unknown advice_code 'call_me_maybe'"),
    ("dict_answer", "returned a dict"),
    ("broken_on_retries", "unknown decline_code 'bank_on_holiday'"),
])
def test_a_run_stops_on_what_the_contract_does_not_know(world, message):
    with pytest.raises(WorldContractError, match=message):
        run(world)


def test_the_command_line_says_the_world_broke_its_contract(tmp_path):
    result = CliRunner().invoke(app, [
        "simulate", "--world", f"{HERE}:unknown_action", "--subscribers", "2", "--days", "3",
        "--warmup-days", "0", "--policy", "fixed:1", "--processes", "1",
        "--report", str(tmp_path / "report.json")])
    assert result.exit_code == 1
    assert "the World broke its contract" in result.output and "Refund" in result.output


def test_actions_must_be_in_their_window_and_in_time_order():
    end = START + timedelta(hours=6)
    inside = Cancelled("s0", START + timedelta(hours=1))
    assert check_actions([inside, OfferAccepted("s1", None, end - timedelta(seconds=1),
                                                offer=None)], START, end)
    with pytest.raises(WorldContractError, match="outside the window"):
        check_actions([Cancelled("s0", end)], START, end)
    with pytest.raises(WorldContractError, match="time order"):
        check_actions([inside, Cancelled("s1", START)], START, end)
    with pytest.raises(WorldContractError, match="aware datetime"):
        check_actions([Cancelled("s0", START.replace(tzinfo=None))], START, end)


@pytest.mark.parametrize("result", [
    ChargeResult(paid=True, decline_code="insufficient_funds"),
    ChargeResult(paid="yes"),
    ChargeResult(paid=False, failure_code="card_melted"),
    ChargeResult(paid=False, network_advice_code="99"),
    ChargeResult(paid=False, network_decline_code="fifty-one"),
    ChargeResult(paid=False, decline_code=["do_not_honor"]),
])
def test_charge_results_hold_only_values_stripe_sends(result):
    with pytest.raises(WorldContractError):
        check_charge_result(result)


def test_the_decline_codes_stripe_sends_pass():
    for result in (ChargeResult(paid=True), ChargeResult(
            paid=False, failure_code="card_declined", decline_code="do_not_honor",
            advice_code="do_not_try_again", network_decline_code="R1",
            network_advice_code="03")):
        assert check_charge_result(result) is result
