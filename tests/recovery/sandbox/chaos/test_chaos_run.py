"""A whole chaos run, small: worker processes killed and restarted, webhooks duplicated and late,
Stripe failing, and still nothing lost, nothing charged twice, no network rule broken."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest

from recovery.sandbox.chaos.outcome import run_chaos, safety_failures
from recovery.sandbox.chaos.plan import API_FAULTS, ChaosPlan
from recovery.sandbox.policies import engine_default
from recovery.sandbox.run import SimulationConfig
from tests.conftest import POSTGRES_URL, create_postgres_database, drop_postgres_database

SMALL = SimulationConfig(subscribers=100, days=30, warmup_days=5, seed=3)


def harsh(seed: int) -> ChaosPlan:
    """More faults than the benchmark's plan, so that a small run meets every kind."""
    plan = ChaosPlan(seed=seed)
    return replace(plan, kill_before_charge_share=0.15, kill_after_charge_share=0.15,
                   connection_drop_share=0.8)


def check_faults_happened(outcome) -> None:
    assert outcome.worker_deaths > 0, "no worker was killed: the run tested nothing"
    assert outcome.webhook_chaos.get("duplicates", 0) > 0
    assert outcome.webhook_chaos.get("delayed", 0) > 0
    assert sum(outcome.api_faults.get(kind, 0) for kind in API_FAULTS) > 0


def test_a_chaos_run_on_sqlite_loses_nothing_and_charges_once():
    outcome = run_chaos(SMALL, engine_default(), harsh(11), label="chaos", workers=1)
    check_faults_happened(outcome)
    assert outcome.events_sent > 0 and outcome.failed_invoices > 0
    assert safety_failures(outcome) == []
    assert outcome.max_paid_charges_per_invoice == 1


@pytest.mark.postgres
def test_a_chaos_run_on_postgres_with_three_workers_loses_nothing():
    name = f"recovery_chaos_{uuid.uuid4().hex[:10]}"
    url = create_postgres_database(POSTGRES_URL, name)
    try:
        outcome = run_chaos(SMALL, engine_default(), harsh(12), label="chaos", workers=3,
                            database_url=url)
    finally:
        drop_postgres_database(POSTGRES_URL, name)
    check_faults_happened(outcome)
    assert outcome.connection_drops > 0
    assert safety_failures(outcome) == []


def test_the_calm_plan_runs_the_same_machinery_without_a_fault():
    outcome = run_chaos(replace(SMALL, subscribers=80), engine_default(),
                        ChaosPlan.calm(5), label="calm", workers=1)
    assert outcome.worker_deaths == 0
    assert sum(outcome.api_faults.get(kind, 0) for kind in API_FAULTS) == 0
    assert outcome.api_faults["requests"] > 0
    assert outcome.deliveries == outcome.events_sent
    assert safety_failures(outcome) == []
