"""Chaos benchmark: the same simulated account with and without faults, on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/chaos.py [--subscribers 2000] [--days 90] [--seed 1]
        [--chaos-seed 7] [--databases sqlite,postgres] [--postgres-workers 4]
        [--postgres-url postgresql://postgres@127.0.0.1:5432/postgres]

Each database gets a calm run and a chaos run on the same World seed, with the worker in
separate processes (one on SQLite, ``--postgres-workers`` on PostgreSQL): webhooks duplicated,
delayed up to 3 days, reordered and replayed; Stripe calls answered with 429, 500, timeouts and
connection resets (some after the charge was made); worker processes killed with SIGKILL before
and after charges and restarted; on PostgreSQL, worker connections terminated mid-transaction.
The fake Stripe's own charge audit is compared with the engine's records at the end.

Prints one table (a column per run). Exit code 1 when a run lost an event, an action or a
message, charged an invoice twice, charged a closed invoice or canceled subscription, or broke a
network rule; the recovery rates are reported beside each other, not enforced.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from recovery.sandbox.chaos.outcome import ChaosOutcome, run_chaos, safety_failures, table_lines
from recovery.sandbox.chaos.plan import ChaosPlan
from recovery.sandbox.policies import engine_default
from recovery.sandbox.run import SimulationConfig

RATE_TOLERANCE = 0.01  # the chaos run's recovery rate must stay within one point of the calm one


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A fresh, empty database for one run, dropped afterwards."""
    name = f"recovery_chaos_{uuid.uuid4().hex[:10]}"
    admin = make_url(admin_url).set(drivername="postgresql")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin.render_as_string(hide_password=False),
                             autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


def run_pair(database: str, args: argparse.Namespace) -> list[ChaosOutcome]:
    """The calm run and the chaos run on one database."""
    config = SimulationConfig(subscribers=args.subscribers, days=args.days,
                              warmup_days=args.warmup_days, seed=args.seed)
    workers = args.postgres_workers if database == "postgres" else 1
    outcomes = []
    for label, plan in (("calm", ChaosPlan.calm(args.chaos_seed)),
                        (f"chaos {args.chaos_seed}", ChaosPlan(seed=args.chaos_seed))):
        print(f"running {label} on {database} ({workers} worker process(es))...", flush=True)
        if database == "postgres":
            with postgres_database(args.postgres_url) as url:
                outcome = run_chaos(config, engine_default(), plan, label=label,
                                    workers=workers, database_url=url)
        else:
            outcome = run_chaos(config, engine_default(), plan, label=label, workers=workers)
        print(f"  done in {outcome.wall_seconds:.0f} s", flush=True)
        outcomes.append(outcome)
    return outcomes


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=2000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--warmup-days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1, help="the World's seed")
    parser.add_argument("--chaos-seed", type=int, default=7)
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--postgres-workers", type=int, default=4)
    parser.add_argument("--postgres-url",
                        default="postgresql://postgres@127.0.0.1:5432/postgres")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    outcomes: list[ChaosOutcome] = []
    for database in args.databases.split(","):
        outcomes += run_pair(database.strip(), args)
    print()
    print(f"{args.subscribers} subscribers x {args.days} days (warm-up {args.warmup_days}), "
          f"World seed {args.seed}, chaos seed {args.chaos_seed}")
    print("\n".join(table_lines(outcomes)))
    failed = False
    for calm, chaos in zip(outcomes[::2], outcomes[1::2], strict=True):
        gap = abs(chaos.recovery_rate - calm.recovery_rate)
        print(f"{calm.database}: recovery rate calm {calm.recovery_rate:.1%}, chaos "
              f"{chaos.recovery_rate:.1%}: gap {gap * 100:.2f} points "
              f"({'within' if gap <= RATE_TOLERANCE else 'NOT within'} 1 point)")
        for outcome in (calm, chaos):
            for failure in safety_failures(outcome):
                print(f"FAIL {outcome.label} on {outcome.database}: {failure}")
                failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
