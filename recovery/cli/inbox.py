"""``recovery inbox``: inspect and re-drive the webhook inbox."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from recovery.cli.common import console, load_settings
from recovery.ingest import inbox as ingest
from recovery.wiring import build_services

inbox_app = typer.Typer(help="Inspect and re-drive the webhook inbox.", no_args_is_help=True)


@inbox_app.command("stats")
def inbox_stats(as_json: bool = typer.Option(False, "--json")) -> None:
    """Counts by status and the age of the oldest pending event."""
    services = build_services(load_settings())
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
    services = build_services(load_settings())
    count = ingest.redrive(services.sessions, failed=failed, event_id=event_id)
    console.print(f"re-driven: {count}")
