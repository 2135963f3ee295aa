"""``recovery simulate``: run one policy, or several on the same seed, and measure each."""

from __future__ import annotations

import logging
import multiprocessing
import shutil
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path

from recovery.rules.policy import RetryPolicy
from recovery.runtime import migrations
from recovery.sandbox.metrics import RunMetrics, measure
from recovery.sandbox.run import Sandbox, SimulationConfig, temporary_workdir


def run_policy(config: SimulationConfig, policy: RetryPolicy,
               on_day: Callable[[int], None] | None = None,
               keep_database: Path | None = None) -> RunMetrics:
    """One full run on a fresh database; returns its figures. ``keep_database``: copy the run's
    SQLite file there before its temporary folder goes (to evaluate policies on its log)."""
    logging.getLogger().setLevel(logging.WARNING)  # the engine's INFO lines would drown a run
    started = time.perf_counter()
    with temporary_workdir() as workdir:
        template = Path(workdir) / "template.db"
        migrations.upgrade(f"sqlite:///{template}")
        sandbox = Sandbox(config, policy, Path(workdir), template_db=template)
        try:
            sandbox.run(on_day)
            cohort_start = config.start + timedelta(days=config.warmup_days)
            cohort_end = config.start + timedelta(days=config.days)
            with sandbox.services.sessions() as session:
                metrics = measure(session, sandbox.services.settings.account_id, policy.name,
                                  cohort_start, cohort_end)
            metrics.invoices_simulated = sandbox.invoices
            metrics.voluntary_cancellations = sandbox.voluntary_cancellations
        finally:
            sandbox.close()
        if keep_database is not None:
            Path(keep_database).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(Path(workdir) / "sandbox.db", keep_database)
    metrics.wall_seconds = time.perf_counter() - started
    return metrics


def _run_one(args) -> RunMetrics:
    config, policy = args
    return run_policy(config, policy)


def run_many(config: SimulationConfig, policies: Sequence[RetryPolicy], *, processes: int,
             on_done: Callable[[RunMetrics], None] | None = None) -> list[RunMetrics]:
    """Every policy on the same seed and world, in parallel processes; results in input order."""
    if processes <= 1 or len(policies) == 1:
        results = []
        for policy in policies:
            results.append(run_policy(config, policy))
            if on_done:
                on_done(results[-1])
        return results
    # Longest runs (most retries) start first so the processes finish close together.
    order = sorted(range(len(policies)), key=lambda n: -policies[n].max_retries)
    context = multiprocessing.get_context("spawn")
    results: dict[int, RunMetrics] = {}
    with context.Pool(processes) as pool:
        jobs = [(n, pool.apply_async(_run_one, ((config, policies[n]),))) for n in order]
        for n, job in jobs:
            results[n] = job.get()
            if on_done:
                on_done(results[n])
    return [results[n] for n in range(len(policies))]
