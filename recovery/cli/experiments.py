"""``recovery experiments``: A/B experiments between two of the default account's policy
versions: list, start, show (per-arm results with intervals and the sequential test), stop and
promote the winner."""

from __future__ import annotations

import getpass

import typer
from rich.table import Table

from recovery.accounts.directory import ensure_default_account
from recovery.cli.common import console, load_settings
from recovery.errors import ExperimentError, NotFound, PolicyError
from recovery.wiring import build_services

experiments_app = typer.Typer(help="A/B experiments between policy versions.",
                              no_args_is_help=True)
REFUSED = (ExperimentError, NotFound, PolicyError)


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _services():
    settings = load_settings()
    services = build_services(settings)
    ensure_default_account(services.sessions, settings, services.clock)
    return settings, services


@experiments_app.command("list")
def experiments_list() -> None:
    """The default account's experiments, the newest first."""
    from recovery.reports.experiments import list_experiments, version_numbers  # noqa: PLC0415

    settings, services = _services()
    table = Table("id", "name", "status", "control", "treatment", "treatment %", "started",
                  "winner")
    with services.sessions() as session:
        found = list_experiments(session, settings.account_id)
        numbers = version_numbers(session, settings.account_id, {
            v for e in found for v in (e.control_policy_version_id,
                                       e.treatment_policy_version_id)})
    for e in found:
        table.add_row(str(e.id), e.name, e.status,
                      f"v{numbers.get(e.control_policy_version_id)}",
                      f"v{numbers.get(e.treatment_policy_version_id)}",
                      str(e.treatment_percent),
                      e.started_at.strftime("%Y-%m-%d %H:%M") if e.started_at else "",
                      e.winner or "")
    console.print(table)


@experiments_app.command("start")
def experiments_start(
        control: int = typer.Argument(..., min=1, help="policy version number of the control"),
        treatment: int = typer.Argument(..., min=1, help="policy version number to try"),
        name: str = typer.Option(..., help="what the experiment tries"),
        treatment_percent: int = typer.Option(50, min=1, max=99,
                                              help="share of customers given the treatment")
) -> None:
    """Start an experiment: new cases follow their customer's arm from now on."""
    from recovery.engine.experiments import ExperimentPlan, start_experiment  # noqa: PLC0415

    settings, services = _services()
    try:
        experiment = start_experiment(
            services.sessions, services.clock, account_id=settings.account_id,
            plan=ExperimentPlan(name, control, treatment, treatment_percent), actor=_actor())
    except REFUSED as problem:
        console.print(f"[red]{problem}[/red]")
        raise typer.Exit(2) from None
    console.print(f"experiment {experiment.id} running: v{control} (control) against "
                  f"v{treatment} for {treatment_percent}% of customers")


@experiments_app.command("show")
def experiments_show(experiment_id: int = typer.Argument(..., min=1)) -> None:
    """Per-arm results so far, with intervals, and the sequential test."""
    from recovery.reports.experiments import experiment_results  # noqa: PLC0415

    settings, services = _services()
    try:
        with services.sessions() as session:
            results = experiment_results(session, settings.account_id, experiment_id)
    except REFUSED as problem:
        console.print(f"[red]{problem}[/red]")
        raise typer.Exit(2) from None
    console.print(f"experiment {results.experiment_id} {results.name!r}: {results.status}")
    print_results(results, ("control", "treatment"))


@experiments_app.command("stop")
def experiments_stop(experiment_id: int = typer.Argument(..., min=1)) -> None:
    """Stop a running experiment: every customer follows the account's policy again."""
    from recovery.engine.experiments import stop_experiment  # noqa: PLC0415

    settings, services = _services()
    try:
        stop_experiment(services.sessions, services.clock, account_id=settings.account_id,
                        experiment_id=experiment_id, actor=_actor())
    except REFUSED as problem:
        console.print(f"[red]{problem}[/red]")
        raise typer.Exit(2) from None
    console.print(f"experiment {experiment_id} stopped")


@experiments_app.command("promote")
def experiments_promote(experiment_id: int = typer.Argument(..., min=1),
                        arm: str = typer.Argument(..., help="control | treatment")) -> None:
    """Make the arm's policy version the account's policy (as a new version) and end the
    experiment."""
    from recovery.engine.experiments import promote_experiment  # noqa: PLC0415

    settings, services = _services()
    try:
        _experiment, version = promote_experiment(
            services.sessions, services.clock, account_id=settings.account_id,
            experiment_id=experiment_id, arm=arm, actor=_actor())
    except REFUSED as problem:
        console.print(f"[red]{problem}[/red]")
        raise typer.Exit(2) from None
    console.print(f"the {arm} arm is the policy now, as version {version.number}")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _span(interval) -> str:
    return "-" if interval is None else f"[{_pct(interval.low)}, {_pct(interval.high)}]"


def _money(value: float) -> str:
    return f"{value / 100:,.2f}"


def print_results(results, labels: tuple[str, str]) -> None:
    """``results`` (``reports.experiments.ExperimentResults``) as one table, arms as columns
    headed by ``labels``, then the differences and the sequential test."""
    table = Table("", *labels)
    arms = (results.control, results.treatment)
    unit = f" {results.currency.upper()}" if results.currency else ""
    rows = [
        ("cases (ended / open)", lambda a: f"{a.recovered.trials} / {a.open_cases}"),
        ("customers", lambda a: str(a.customers)),
        ("recovered (count)", lambda a: f"{_pct(a.recovered.rate)} "
                                        f"{_span(a.recovered.interval)}"),
        ("recovered (amount)", lambda a: f"{_pct(a.amount_rate)} {_span(a.amount.interval)}"),
        ("amount due (ended)", lambda a: f"{_money(a.amount_due)}{unit}"),
        ("attempts per case", lambda a: f"{a.attempts_per_case:.2f}"),
        ("messages per case", lambda a: f"{a.messages_per_case:.2f}"),
        ("cancellations", lambda a: f"{a.cancellations} ({_pct(a.cancellation_rate)})"),
        ("net revenue", lambda a: f"{_money(a.net_revenue)}{unit} (offers gave up "
                                  f"{_money(a.revenue_given_up)})"),
    ]
    for label, cell in rows:
        table.add_row(label, *(cell(arm) for arm in arms))
    console.print(table)
    rate = results.recovery_rate_difference
    console.print(f"recovery rate, treatment - control: {100 * rate.estimate:+.1f} points "
                  f"{_span(rate.interval)} ({rate.method})")
    amount = results.amount_rate_difference
    console.print(f"recovery rate by amount, treatment - control: "
                  f"{100 * amount.estimate:+.1f} points {_span(amount.interval)} "
                  f"({amount.method})")
    net = results.net_revenue_per_case_difference
    low_high = "-" if net.interval is None else \
        f"[{_money(net.interval.low)}, {_money(net.interval.high)}]"
    console.print(f"net revenue per ended case, treatment - control: {_money(net.estimate)} "
                  f"{low_high}{unit} ({net.method})")
    seq = results.sequential
    verdict = f"stop: {seq.winner.value} wins" if seq.winner else "keep running"
    console.print(f"sequential test (always valid): p = {seq.p_value:.4f} after {seq.looks} "
                  f"looks, difference {_span(seq.interval)} -> {verdict}")
