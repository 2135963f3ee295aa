"""``recovery simulate``: the real pipeline against the sandbox, measuring recovery."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import Progress

from recovery.cli.common import console, load_settings
from recovery.errors import PolicyError


def simulate(
    world: str = typer.Option("recovery.sandbox.world.builtin:make_world",
                              help="World factory as module:factory."),
    subscribers: int = typer.Option(1000, min=1),
    days: int = typer.Option(120, min=1),
    warmup_days: int = typer.Option(30, min=0),
    seed: int = typer.Option(1),
    policy: list[str] = typer.Option(["default"], help="none | fixed:1,3,5,7 | default | "
                                     "retries-only (the default schedule, no customer "
                                     "messages) | smart | oracle | a saved policy name; "
                                     "repeat to compare several."),
    compare: bool = typer.Option(False, "--compare", help="No retry, peers' fixed schedules, "
                                 "the engine's own policy with and without customer "
                                 "messages (retries only), the smart policy and (built-in "
                                 "worlds) the oracle, on the same seed (with "
                                 "--keep-renewing unless told otherwise)."),
    keep_renewing: bool | None = typer.Option(
        None, "--keep-renewing/--policy-endings",
        help="Keep every subscription renewing after dunning ends (the end-of-dunning action "
             "leaves it past due; customers may still cancel), so every policy faces the same "
             "renewals. Default: on with --compare, else off."),
    report: Path = typer.Option(Path("reports/simulation"), help="Directory or .json file."),
    processes: int = typer.Option(2, min=1, help="Policies run in parallel processes."),
    chaos: int | None = typer.Option(
        None, "--chaos", metavar="SEED",
        help="Run the (one) policy under faults drawn from SEED: duplicated, late, reordered "
             "and replayed webhooks, failing Stripe calls, worker processes killed and "
             "restarted, dropped database connections; then judge what was lost."),
    workers: int = typer.Option(1, min=1, help="With --chaos: worker processes."),
    keep_database: Path | None = typer.Option(
        None, help="Copy the (one) policy's SQLite database, or the --experiment run's, here "
                   "when the run ends, e.g. to judge other policies on its log with `recovery "
                   "evaluate-policy`, or to serve it (RECOVERY_DATABASE_URL) and read it on the "
                   "dashboard."),
    chaos_database: str | None = typer.Option(
        None, help="With --chaos: an empty PostgreSQL database to run on (default: SQLite in "
                   "a temporary folder)."),
    experiment: str | None = typer.Option(
        None, metavar="CONTROL:TREATMENT",
        help="One run in which the account holds both policies (named as --policy names "
             "them, e.g. default:smart) as versions, with a 50/50 experiment between them "
             "from the start; prints each arm's results with intervals."),
) -> None:
    """Run the real pipeline against simulated Stripe and customers, and measure recovery."""
    from recovery.sandbox import policies as sim_policies  # noqa: PLC0415
    from recovery.sandbox.run import SimulationConfig  # noqa: PLC0415

    settings = load_settings()
    config = SimulationConfig(world=world, subscribers=subscribers, days=days,
                              warmup_days=warmup_days, seed=seed,
                              keep_renewing=compare if keep_renewing is None else keep_renewing)
    if experiment is not None:
        _run_experiment(config, experiment, settings.database_url, keep_database)
        return
    try:
        chosen = sim_policies.comparison_policies(world) if compare else [
            sim_policies.resolve_policy(spec, settings.database_url) for spec in policy]
    except PolicyError as problem:
        console.print(f"[red]{problem}[/red]")
        raise typer.Exit(2) from None
    if chaos is not None:
        _run_chaos(config, chosen, chaos, workers, chaos_database)
        return
    if keep_database is not None and len(chosen) != 1:
        console.print("[red]--keep-database keeps one policy's run (not --compare)[/red]")
        raise typer.Exit(2)
    started = time.perf_counter()
    results = _run_all(config, chosen, processes, keep_database)
    _present(results, config, report, processes, time.perf_counter() - started)


def _run_experiment(config, spec: str, database_url: str | None,
                    keep_database: Path | None) -> None:
    from recovery.cli.experiments import print_results  # noqa: PLC0415
    from recovery.sandbox.experiment import experiment_policies, run_experiment  # noqa: PLC0415

    try:
        control, treatment = experiment_policies(spec, database_url)
    except PolicyError as problem:
        console.print(f"[red]{problem}[/red]")
        raise typer.Exit(2) from None
    with console.status(f"simulating an experiment: {control.name} against {treatment.name}"):
        run = run_experiment(config, control, treatment, keep_database=keep_database)
    console.print(f"experiment {run.control} (control) against {run.treatment} (treatment): "
                  f"{config.subscribers} subscribers, {config.days} days, seed {config.seed}")
    print_results(run.results, (f"control: {run.control}", f"treatment: {run.treatment}"))
    console.print(f"wall time {run.wall_seconds:.1f} s; {run.invoices_simulated} invoices")
    if keep_database is not None:
        console.print(f"database kept: {keep_database} (experiment {run.results.experiment_id})")


def _run_all(config, policies, processes: int, keep_database: Path | None = None) -> list:
    from recovery.sandbox.simulate import run_many, run_policy  # noqa: PLC0415
    from recovery.sandbox.world.checks import WorldContractError  # noqa: PLC0415

    try:
        if keep_database is not None:
            with console.status(f"simulating {policies[0].name}"):
                results = [run_policy(config, policies[0], keep_database=keep_database)]
            console.print(f"database kept: {keep_database}")
            return results
        with Progress(console=console) as progress:
            task = progress.add_task("simulating policies", total=len(policies))
            return run_many(config, policies, processes=processes,
                            on_done=lambda _m: progress.advance(task))
    except WorldContractError as breach:
        console.print(f"[red]the World broke its contract: {breach}[/red]")
        raise typer.Exit(1) from None


def _run_chaos(config, policies: list, seed: int, workers: int, database: str | None) -> None:
    from recovery.sandbox.chaos.outcome import run_chaos, safety_failures, table_lines  # noqa: PLC0415
    from recovery.sandbox.chaos.plan import ChaosPlan  # noqa: PLC0415

    if len(policies) != 1:
        console.print("[red]--chaos runs one policy (not --compare)[/red]")
        raise typer.Exit(2)
    with console.status(f"chaos run (seed {seed}, {workers} worker process(es))"):
        outcome = run_chaos(config, policies[0], ChaosPlan(seed=seed), label=f"chaos {seed}",
                            workers=workers, database_url=database)
    console.print("\n".join(table_lines([outcome])), markup=False, highlight=False)
    failures = safety_failures(outcome)
    for failure in failures:
        console.print(f"[red]{failure}[/red]")
    if failures:
        raise typer.Exit(1)


def _present(results: list, config, report: Path, processes: int, wall: float) -> None:
    from recovery.sandbox.report import (  # noqa: PLC0415
        decline_class_table,
        results_table,
        write_report,
    )

    # The comparison is wide: never squeeze it into a narrow (or non-terminal) console.
    wide = Console(width=max(console.width, 190))
    wide.print(results_table(results, config.mode))
    wide.print(decline_class_table(results))
    invoices = sum(m.invoices_simulated for m in results)
    console.print(f"wall time {wall:.1f} s for {len(results)} run(s); "
                  f"{invoices / wall:,.0f} simulated invoices/s")
    json_path, chart_path = write_report(report, {**vars(config), "processes": processes},
                                         results, wall, config.mode)
    console.print(f"report: {json_path}  chart: {chart_path}")
