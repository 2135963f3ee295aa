"""The ``recovery`` command: serve, worker, migrate, inbox tools (and more as they arrive)."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path

import typer
from pydantic import SecretStr
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from recovery import case_report, ingest, migrations
from recovery.accounts import ensure_default_account
from recovery.errors import NotFound, PolicyError
from recovery.logs import configure_logging
from recovery.services import build_services
from recovery.settings import Settings

app = typer.Typer(help="Payment-recovery engine for Stripe Billing.", no_args_is_help=True)
inbox_app = typer.Typer(help="Inspect and re-drive the webhook inbox.", no_args_is_help=True)
app.add_typer(inbox_app, name="inbox")
cases_app = typer.Typer(help="Recovery cases: list them, or show one's timeline.",
                        no_args_is_help=True)
app.add_typer(cases_app, name="cases")
policy_app = typer.Typer(help="The account's retry policy.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")
console = Console()


def _settings() -> Settings:
    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    return settings


@app.command()
def migrate(revision: str = typer.Argument("head", help="Target revision (or 'base' to go down)."),
            down: bool = typer.Option(False, "--down", help="Downgrade to the revision.")) -> None:
    """Apply (or revert) database migrations."""
    settings = _settings()
    (migrations.downgrade if down else migrations.upgrade)(settings.database_url, revision)
    console.print(f"database at {'revision ' + revision if down else 'head'}")


@app.command()
def serve(worker: bool = typer.Option(None, "--worker/--no-worker",
                                      help="Run the worker in-process (default: on).")) -> None:
    """Serve the API and webhook receiver (and the worker, in-process)."""
    import uvicorn  # noqa: PLC0415 - only this command needs the server

    from recovery.app import create_app  # noqa: PLC0415

    settings = _settings()
    if settings.sandbox:
        services, background = _sandbox_services(settings)
    else:
        services, background = build_services(settings), []
    web_app = create_app(services, run_worker=worker, background=background)
    uvicorn.run(web_app, host=settings.host, port=settings.port, log_config=None)


def _sandbox_services(settings: Settings):
    """No Stripe key: a simulated account on a fast clock stands in for Stripe."""
    from recovery.clock import ScaledClock, SystemClock  # noqa: PLC0415
    from recovery.simulation.live import SANDBOX_SECRET, LiveSandbox  # noqa: PLC0415

    if not settings.webhook_secrets:
        settings = settings.model_copy(update={"stripe_webhook_secrets": SecretStr(SANDBOX_SECRET)})
    clock = ScaledClock(SystemClock().now(), speed=86400 / settings.sandbox_seconds_per_day)
    services = build_services(settings, clock)
    ensure_default_account(services.sessions, settings, clock)
    url = f"http://{settings.host}:{settings.port}/webhooks/stripe"
    live = LiveSandbox(services, url, subscribers=settings.sandbox_subscribers,
                       world=settings.sandbox_world)
    return services, [live]


@app.command(name="worker")
def run_worker() -> None:
    """Run the scheduler ticks (ingest, due actions) until interrupted. Several may run at once."""
    from recovery.scheduler import start_scheduler  # noqa: PLC0415

    settings = _settings()
    services = build_services(settings)
    ensure_default_account(services.sessions, settings, services.clock)
    scheduler = start_scheduler(services)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        scheduler.shutdown(wait=True)


@inbox_app.command("stats")
def inbox_stats(as_json: bool = typer.Option(False, "--json")) -> None:
    """Counts by status and the age of the oldest pending event."""
    services = build_services(_settings())
    stats = ingest.inbox_stats(services.sessions, services.clock)
    if as_json:
        console.print_json(json.dumps(stats))
        return
    table = Table("status", "events")
    for status, count in sorted(stats["counts"].items()):
        table.add_row(status, str(count))
    console.print(table)
    console.print(f"oldest pending: {stats['oldest_pending_age_seconds']:.0f} s")


@inbox_app.command("redrive")
def inbox_redrive(
    failed: bool = typer.Option(False, "--failed", help="Re-drive every failed event."),
    event_id: str = typer.Option(None, "--event-id", help="Re-drive one Stripe event id."),
) -> None:
    """Send failed events back to the ingest queue."""
    if not failed and event_id is None:
        console.print("say which events: --failed or --event-id evt_...")
        raise typer.Exit(2)
    services = build_services(_settings())
    count = ingest.redrive(services.sessions, failed=failed, event_id=event_id)
    console.print(f"re-driven: {count}")


@cases_app.command("list")
def cases_list(status: str = typer.Option(None, help="open, recovered, exhausted, ..."),
               limit: int = typer.Option(50)) -> None:
    """The newest recovery cases."""
    services = build_services(_settings())
    table = Table("invoice", "status", "waiting for", "amount", "first failed", "last reason")
    for case in case_report.list_cases(services.sessions, status=status, limit=limit):
        table.add_row(case.stripe_invoice_id, case.status, case.waiting_for,
                      f"{case.amount_due / 100:.2f} {case.currency}",
                      case.first_failed_at.strftime("%Y-%m-%d %H:%M"), case.last_reason or "")
    console.print(table)


@cases_app.command("show")
def cases_show(invoice_id: str) -> None:
    """One case: its attempts, declines, reasons and next step."""
    services = build_services(_settings())
    try:
        case, timeline = case_report.case_timeline(services.sessions, invoice_id)
    except NotFound as problem:
        console.print(str(problem))
        raise typer.Exit(1) from None
    console.print(f"[bold]{case.stripe_invoice_id}[/bold] {case.status} "
                  f"(waiting for {case.waiting_for}; recovered by {case.recovered_by or '-'})")
    table = Table("when (UTC)", "what", "detail")
    for entry in timeline:
        table.add_row(entry.at.strftime("%Y-%m-%d %H:%M"), entry.what, entry.detail)
    console.print(table)
    console.print(f"next step: {case.last_reason or '-'}")


@app.command()
def simulate(
    world: str = typer.Option("recovery.simulation.builtin_world:make_world",
                              help="World factory as module:factory."),
    subscribers: int = typer.Option(1000, min=1),
    days: int = typer.Option(120, min=1),
    warmup_days: int = typer.Option(30, min=0),
    seed: int = typer.Option(1),
    policy: list[str] = typer.Option(["default"], help="none | fixed:1,3,5,7 | default | a "
                                     "saved policy name; repeat to compare several."),
    compare: bool = typer.Option(False, "--compare", help="No retry, peers' fixed schedules "
                                 "and the engine's own policy, on the same seed."),
    report: Path = typer.Option(Path("reports/simulation"), help="Directory or .json file."),
    processes: int = typer.Option(2, min=1, help="Policies run in parallel processes."),
) -> None:
    """Run the real pipeline against simulated Stripe and customers, and measure recovery."""
    from recovery.simulation import policies as sim_policies  # noqa: PLC0415
    from recovery.simulation.report import results_table, write_report  # noqa: PLC0415
    from recovery.simulation.run import SimulationConfig  # noqa: PLC0415
    from recovery.simulation.simulate import run_many  # noqa: PLC0415

    settings = _settings()
    try:
        chosen = sim_policies.comparison_policies() if compare else [
            sim_policies.resolve_policy(spec, settings.database_url) for spec in policy]
    except PolicyError as problem:
        console.print(f"[red]{problem}[/red]")
        raise typer.Exit(2) from None
    config = SimulationConfig(world=world, subscribers=subscribers, days=days,
                              warmup_days=warmup_days, seed=seed)
    started = time.perf_counter()
    with Progress(console=console) as progress:
        task = progress.add_task("simulating policies", total=len(chosen))
        results = run_many(config, chosen, processes=processes,
                           on_done=lambda _m: progress.advance(task))
    wall = time.perf_counter() - started
    # The comparison is wide: never squeeze it into a narrow (or non-terminal) console.
    Console(width=max(console.width, 190)).print(results_table(results))
    invoices = sum(m.invoices_simulated for m in results)
    console.print(f"wall time {wall:.1f} s for {len(results)} run(s); "
                  f"{invoices / wall:,.0f} simulated invoices/s")
    json_path, chart_path = write_report(report, {**vars(config), "processes": processes},
                                         results, wall)
    console.print(f"report: {json_path}  chart: {chart_path}")


@policy_app.command("show")
def policy_show() -> None:
    """The default account's policy (defaults filled in)."""
    from models import Account  # noqa: PLC0415
    from recovery.engine_planning import policy_of  # noqa: PLC0415

    settings = _settings()
    services = build_services(settings)
    ensure_default_account(services.sessions, settings, services.clock)
    with services.sessions() as session:
        policy = policy_of(session.get(Account, settings.account_id))
    console.print_json(json.dumps(policy.to_dict()))


@policy_app.command("set")
def policy_set(policy_json: str = typer.Argument(..., help='e.g. \'{"name": "weekly", '
                                                 '"offsets_days": [2, 7, 14]}\'')) -> None:
    """Validate and save the default account's policy (usable by name in ``simulate``)."""
    from models import Account  # noqa: PLC0415
    from recovery.policy import RetryPolicy  # noqa: PLC0415

    settings = _settings()
    try:
        policy = RetryPolicy.from_dict(json.loads(policy_json))
    except (json.JSONDecodeError, PolicyError, TypeError, AttributeError) as problem:
        console.print(f"[red]invalid policy: {problem}[/red]")
        raise typer.Exit(2) from None
    services = build_services(settings)
    ensure_default_account(services.sessions, settings, services.clock)
    with services.sessions() as session:
        session.get(Account, settings.account_id).policy = policy.to_dict()
        session.commit()
    console.print(f"saved policy {policy.name!r}")
