"""Smart timing against fixed schedules: ``--compare --keep-renewing`` over several seeds and
both built-in presets, summarised.

    .venv/bin/python benchmarks/smart_timing.py [--subscribers 5000] [--days 120]
        [--warmup-days 30] [--seeds 1,2,3] [--worlds default,alternate] [--processes 2]

For every world and seed it runs the comparison set (no retry, peers' fixed schedules, the
engine's fixed default, the smart policy and the oracle) exactly as ``recovery simulate
--compare`` does, then prints per world: each policy's recovery rate by count and by amount
(mean and min-max over the seeds), retries per failed invoice, violations, the best fixed
schedule, the smart policy's lead over it, and the share of the gap between the best fixed
schedule and the oracle that the smart policy closes. The wall time of every ``--compare`` run
is printed too (the target is under 5 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict

from recovery.sandbox.metrics import RunMetrics
from recovery.sandbox.policies import NOT_A_SCHEDULE, comparison_policies
from recovery.sandbox.run import SimulationConfig
from recovery.sandbox.simulate import run_many

WORLDS = {
    "default": "recovery.sandbox.world.builtin:make_world",
    "alternate": "recovery.sandbox.world.builtin:make_alternate_world",
}


def spread(values: list[float]) -> str:
    mean = statistics.fmean(values)
    return f"{mean:.1%} ({min(values):.1%}-{max(values):.1%})"


def summarise(world: str, runs: list[list[RunMetrics]], walls: list[float]) -> list[str]:
    by_policy: dict[str, list[RunMetrics]] = defaultdict(list)
    for results in runs:
        for metrics in results:
            by_policy[metrics.policy].append(metrics)
    lines = [f"## {world}: {len(runs)} seed(s); --compare wall time per seed: "
             + ", ".join(f"{w:.0f} s" for w in walls), "",
             "| policy | rate (count) | rate (amount) | retries / failed | failed | violations |",
             "|---|---:|---:|---:|---:|---:|"]
    for policy, metrics in by_policy.items():
        lines.append(
            f"| {policy} | {spread([m.recovery_rate for m in metrics])} | "
            f"{spread([m.amount_rate for m in metrics])} | "
            f"{statistics.fmean(m.retries_per_failed for m in metrics):.2f} | "
            f"{statistics.fmean(m.failed_invoices for m in metrics):.0f} | "
            f"{sum(m.violations for m in metrics)} |")
    fixed = {p: ms for p, ms in by_policy.items() if p not in NOT_A_SCHEDULE}
    smart, oracle = by_policy.get("smart"), by_policy.get("oracle")
    if fixed and smart:
        best = max(fixed, key=lambda p: statistics.fmean(m.recovery_rate for m in fixed[p]))
        best_best = max(fixed, key=lambda p: statistics.fmean(m.amount_rate for m in fixed[p]))
        lead = [s.recovery_rate - b.recovery_rate for s, b in zip(smart, fixed[best],
                                                                  strict=True)]
        lead_amount = [s.amount_rate - b.amount_rate for s, b in zip(smart, fixed[best_best],
                                                                     strict=True)]
        lines += ["", f"best fixed schedule by count: {best}; smart leads it by "
                      f"{statistics.fmean(lead) * 100:+.1f} points "
                      f"(per seed: {', '.join(f'{x * 100:+.1f}' for x in lead)})",
                  f"best fixed schedule by amount: {best_best}; smart leads it by "
                  f"{statistics.fmean(lead_amount) * 100:+.1f} points"]
        if oracle:
            closed = []
            for s, b, o in zip(smart, fixed[best], oracle, strict=True):
                gap = o.recovery_rate - b.recovery_rate
                closed.append((s.recovery_rate - b.recovery_rate) / gap if gap > 0 else 0.0)
            lines.append(f"share of the best-fixed-to-oracle gap the smart policy closes: "
                         f"{statistics.fmean(closed):.0%} "
                         f"(per seed: {', '.join(f'{x:.0%}' for x in closed)})")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=5000)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--warmup-days", type=int, default=30)
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--worlds", default="default,alternate")
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    for world in args.worlds.split(","):
        runs, walls = [], []
        for seed in (int(s) for s in args.seeds.split(",")):
            config = SimulationConfig(world=WORLDS[world], subscribers=args.subscribers,
                                      days=args.days, warmup_days=args.warmup_days, seed=seed,
                                      keep_renewing=True)
            started = time.perf_counter()
            runs.append(run_many(config, comparison_policies(config.world),
                                 processes=args.processes))
            walls.append(time.perf_counter() - started)
        print("\n".join(summarise(world, runs, walls)) + "\n", flush=True)


if __name__ == "__main__":
    main()
