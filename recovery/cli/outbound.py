"""``recovery outbound``: an account's outbound webhook endpoints (add, list, remove)."""

from __future__ import annotations

import getpass

import typer

from recovery.accounts import outbound_endpoints as endpoints
from recovery.accounts.directory import ensure_default_account
from recovery.accounts.secret_box import SecretBox
from recovery.cli.common import console, load_settings
from recovery.errors import ConfigurationError, InvalidEndpoint, NotFound
from recovery.wiring import build_services

outbound_app = typer.Typer(help="Signed webhooks to your own systems (CRM, ERP): endpoints.",
                           no_args_is_help=True)
ACCOUNT_HELP = "The account (default: the settings' account)."


@outbound_app.command("add")
def outbound_add(
    url: str = typer.Argument(..., help="https:// URL that receives the events."),
    event: list[str] = typer.Option(None, "--event", "-e",
                                    help="An event type to send (repeat; default: all)."),
    account: str = typer.Option(None, help=ACCOUNT_HELP),
) -> None:
    """Add an endpoint; its signing secret is shown this once."""
    settings = load_settings()
    services = build_services(settings)
    ensure_default_account(services.sessions, settings, services.clock)
    try:
        created = endpoints.create_endpoint(
            services.sessions, SecretBox.from_settings(settings), services.clock,
            account or settings.account_id, url, event or None,
            allow_local_http=settings.outbound_local_http_allowed,
            actor=f"cli:{getpass.getuser()}")
    except (InvalidEndpoint, NotFound, ConfigurationError) as problem:
        console.print(str(problem))
        raise typer.Exit(2) from None
    shown = created.endpoint
    console.print(f"endpoint {shown.id}: {shown.url}")
    console.print(f"events: {', '.join(shown.event_types)}")
    console.print(f"signing secret (shown once, keep it): {created.secret}", soft_wrap=True)


@outbound_app.command("list")
def outbound_list(account: str = typer.Option(None, help=ACCOUNT_HELP)) -> None:
    """The account's endpoints, one a line (never their secrets)."""
    settings = load_settings()
    services = build_services(settings)
    listed = endpoints.list_endpoints(services.sessions, account or settings.account_id)
    for shown in listed:
        # One line each, unwrapped: URLs stay whole for copying and for scripts.
        console.print(f"{shown.id}\t{shown.url}\t{','.join(shown.event_types)}\t"
                      f"{'enabled' if shown.enabled else 'disabled'}\t"
                      f"{shown.created_at:%Y-%m-%d %H:%M}", soft_wrap=True, highlight=False)
    if not listed:
        console.print("no webhook endpoints")


@outbound_app.command("remove")
def outbound_remove(endpoint_id: int = typer.Argument(...),
                    account: str = typer.Option(None, help=ACCOUNT_HELP)) -> None:
    """Stop sending to an endpoint (its delivery log is kept)."""
    settings = load_settings()
    services = build_services(settings)
    try:
        endpoints.remove_endpoint(services.sessions, services.clock,
                                  account or settings.account_id, endpoint_id,
                                  actor=f"cli:{getpass.getuser()}")
    except NotFound as problem:
        console.print(str(problem))
        raise typer.Exit(1) from None
    console.print(f"endpoint {endpoint_id} removed")
