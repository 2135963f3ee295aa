"""Off-policy evaluation against the truth: fixed schedules estimated from a smart run's log.

    .venv/bin/python benchmarks/off_policy.py [--subscribers 3000] [--days 120]
        [--warmup-days 30] [--seed 1] [--candidates default,fixed:3,8,15] [--window-hours 12]

On the built-in world (keep renewing, as ``--compare``), runs the smart policy, which explores
and logs its propensities, keeping its database; runs each candidate fixed schedule on the same
seed for its actual result; then estimates each candidate from the smart run's log alone
(cases first failed after the warm-up and before the last renewal: the cohort the simulate
metrics count) and prints actual against estimated, and whether the actual recovery rate lies
inside the doubly robust interval.

The smart policy switches from its decline-aware prior to a learned scorer once the account has
``RECOVERY_SMART_MIN_ATTEMPTS`` attempts; setting that very high keeps the logging policy on the
prior (which explores the same way) for the whole run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from recovery.runtime.db import make_engine, session_factory
from recovery.sandbox.policies import resolve_policy, smart
from recovery.sandbox.run import SimulationConfig
from recovery.sandbox.simulate import run_many, run_policy
from recovery.scoring.logged_history import evaluate_policy

ACCOUNT = "acct_default"


def interval(found) -> str:
    return f"{found.estimate:.1%} [{found.low:.1%}, {found.high:.1%}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=3000)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--warmup-days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--candidates", default="default;fixed:3,8,15",
                        help="candidate policies, separated by ';'")
    parser.add_argument("--window-hours", type=float, default=12.0)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    config = SimulationConfig(subscribers=args.subscribers, days=args.days,
                              warmup_days=args.warmup_days, seed=args.seed, keep_renewing=True)
    candidates = [resolve_policy(spec) for spec in args.candidates.split(";") if spec]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="off-policy-") as folder:
        database = Path(folder) / "smart.db"
        logging_run = run_policy(config, smart(), keep_database=database)
        actual = run_many(config, candidates, processes=args.processes)
        lines = estimate_lines(config, database, candidates, actual, args.window_hours)
    print(f"logging policy: smart, recovery rate {logging_run.recovery_rate:.1%} of "
          f"{logging_run.failed_invoices} failed invoices ({logging_run.retries} retries)")
    print("\n".join(lines))
    print(f"wall time {time.perf_counter() - started:.0f} s")


def estimate_lines(config: SimulationConfig, database: Path, candidates, actual,
                   window_hours: float) -> list[str]:
    engine = make_engine(f"sqlite:///{database}", pool_size=1)
    since = config.start + timedelta(days=config.warmup_days)
    until = config.start + timedelta(days=config.days)
    lines = ["| candidate | actual | cases | matched | ESS | DM | IPW | DR | actual in DR |",
             "|---|---:|---:|---:|---:|---:|---:|---:|:---:|"]
    try:
        with session_factory(engine)() as session:
            for policy, metrics in zip(candidates, actual, strict=True):
                found = evaluate_policy(session, ACCOUNT, policy, since=since, until=until,
                                        half_width=window_hours)
                e = found.estimates
                inside = "yes" if e.doubly_robust.covers(metrics.recovery_rate) else "no"
                lines.append(
                    f"| {policy.name} | {metrics.recovery_rate:.1%} | {e.cases} | {e.matched} | "
                    f"{e.effective_sample_size:.0f} | {interval(e.direct)} | {interval(e.ipw)} "
                    f"| {interval(e.doubly_robust)} | {inside} |")
            lines.append(f"outcome model: {found.outcome_model}; logged (smart) rate on these "
                         f"cases {found.logged_rate:.1%}")
    finally:
        engine.dispose()
    return lines


if __name__ == "__main__":
    main()
