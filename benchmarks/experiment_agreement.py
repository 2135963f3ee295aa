"""A sandbox A/B experiment against separate runs of its two policies: do the arms agree?

    .venv/bin/python benchmarks/experiment_agreement.py [--subscribers 5000] [--days 120]
        [--warmup-days 30] [--seed 1] [--control default] [--treatment smart] [--workdir DIR]

Runs three simulations of the same world and seed, two at a time (each its own process, the
way ``recovery simulate`` runs from the shell): the experiment (``--experiment
CONTROL:TREATMENT``, half of the customers in each arm from the first day), and each policy
alone for every customer. Each keeps its database. The experiment's arms are read with the
experiment report (``recovery/reports/experiments.py``: ended cases opened while it ran,
recovered by count, and by amount in its main currency, each with its 95% interval); each
separate run is read with the same definitions over all of its cases (every customer followed
that policy), and the table says whether each separate figure lies inside its arm's interval.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import case, func, select
from sqlmodel import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models import CaseStatus, Experiment, RecoveryCase  # noqa: E402
from recovery.reports.experiments import experiment_results  # noqa: E402
from recovery.runtime.db import make_engine  # noqa: E402
from recovery.runtime.settings import Settings  # noqa: E402

ACCOUNT = Settings.model_fields["account_id"].default
RECOVERY = [sys.executable, "-c", "from recovery.cli import app; app()"]


def simulate(args, workdir: Path, name: str, extra: list[str]) -> tuple[Path, float]:
    database = workdir / f"{name}.db"
    started = time.perf_counter()
    command = RECOVERY + ["simulate", "--subscribers", str(args.subscribers), "--days",
                          str(args.days), "--warmup-days", str(args.warmup_days), "--seed",
                          str(args.seed), "--keep-renewing", "--keep-database", str(database),
                          "--report", str(workdir / f"{name}.json"), *extra]
    with open(workdir / f"{name}.log", "w") as log:
        subprocess.run(command, check=True, stdout=log, stderr=subprocess.STDOUT)
    return database, time.perf_counter() - started


def separate_figures(database: Path, currency: str) -> tuple[int, int, float, float]:
    """Ended cases, recovered, and the rates by count and by amount in ``currency``: the
    experiment report's definitions, over every case of the run."""
    engine = make_engine(f"sqlite:///{database}")
    try:
        with Session(engine) as session:
            started = session.scalar(select(func.min(RecoveryCase.first_failed_at)))
            ended = (RecoveryCase.account_id == ACCOUNT,
                     RecoveryCase.status != CaseStatus.open.value,
                     RecoveryCase.first_failed_at >= started)
            recovered = RecoveryCase.status == CaseStatus.recovered.value
            cases, won = session.execute(
                select(func.count(), func.sum(case((recovered, 1), else_=0)))
                .where(*ended)).one()
            due, back = session.execute(
                select(func.sum(RecoveryCase.amount_due),
                       func.sum(case((recovered, RecoveryCase.amount_due), else_=0)))
                .where(*ended, RecoveryCase.currency == currency)).one()
    finally:
        engine.dispose()
    return int(cases), int(won or 0), (won or 0) / cases, (back or 0) / due


def experiment_arms(database: Path):
    engine = make_engine(f"sqlite:///{database}")
    try:
        with Session(engine) as session:
            experiment_id = session.scalar(select(Experiment.id))
            return experiment_results(session, ACCOUNT, experiment_id)
    finally:
        engine.dispose()


def span(interval) -> str:
    return "[-]" if interval is None else f"[{interval.low:.1%}, {interval.high:.1%}]"


def inside(value: float, interval) -> str:
    return "-" if interval is None else ("yes" if interval.low <= value <= interval.high else "no")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=5000)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--warmup-days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--control", default="default")
    parser.add_argument("--treatment", default="smart")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep the runs' databases, reports and logs here")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="experiment-agreement-"))
    workdir.mkdir(parents=True, exist_ok=True)
    runs = {"experiment": ["--experiment", f"{args.control}:{args.treatment}"],
            "control": ["--policy", args.control], "treatment": ["--policy", args.treatment]}
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = {name: pool.submit(simulate, args, workdir, name, extra)
                for name, extra in runs.items()}
        done = {name: future.result() for name, future in done.items()}
    results = experiment_arms(done["experiment"][0])
    print(f"\n{args.subscribers} subscribers, {args.days} days ({args.warmup_days} warm-up), "
          f"seed {args.seed}, keep renewing; amounts in {results.currency}; run times "
          + ", ".join(f"{name} {seconds:.0f} s" for name, (_db, seconds) in done.items()))
    print("\n| arm | experiment: ended cases | by count [95%] | by amount [95%] "
          "| separate run: ended cases | by count | by amount | count inside | amount inside |")
    print("|---|---:|---:|---:|---:|---:|---:|:---:|:---:|")
    for arm, policy in (("control", args.control), ("treatment", args.treatment)):
        figures = getattr(results, arm)
        count, amount = figures.recovered, figures.amount
        cases, _won, rate, amount_rate = separate_figures(done[arm][0], results.currency)
        print(f"| {arm} ({policy}) | {count.trials} | {count.rate:.1%} {span(count.interval)} "
              f"| {amount.rate:.1%} {span(amount.interval)} | {cases} | {rate:.1%} "
              f"| {amount_rate:.1%} | {inside(rate, count.interval)} "
              f"| {inside(amount_rate, amount.interval)} |")
    print(f"\nworkdir: {workdir}")


if __name__ == "__main__":
    main()
