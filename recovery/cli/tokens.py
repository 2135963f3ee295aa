"""``recovery tokens``: make, list and revoke an account's API tokens."""

from __future__ import annotations

import typer
from rich.table import Table

from recovery.accounts.directory import ensure_default_account
from recovery.accounts.tokens import create_token, list_tokens, revoke_token
from recovery.cli.common import cli_actor, console, load_settings
from recovery.errors import NotFound, PolicyError
from recovery.wiring import build_services

tokens_app = typer.Typer(help="API tokens of an account.", no_args_is_help=True)

ACCOUNT_HELP = "the account's id (default: the settings' account)"


@tokens_app.command("create")
def tokens_create(name: str = typer.Option("", help="what the token is for"),
                  scope: list[str] = typer.Option(["read"], help="read and/or write"),
                  account: str | None = typer.Option(None, help=ACCOUNT_HELP)) -> None:
    """Make a token; it is printed once and cannot be shown again."""
    settings = load_settings()
    services = build_services(settings)
    ensure_default_account(services.sessions, settings, services.clock)
    try:
        info, token = create_token(services.sessions, services.clock,
                                   account_id=account or settings.account_id, name=name,
                                   scopes=scope, actor=cli_actor())
    except (NotFound, PolicyError) as problem:
        console.print(f"[red]{problem}[/red]")
        raise typer.Exit(2) from None
    console.print(f"token {info.id} ({', '.join(info.scopes)}) for {info.account_id}; keep it "
                  "now, it is not shown again:")
    typer.echo(token)


@tokens_app.command("list")
def tokens_list(account: str | None = typer.Option(None, help=ACCOUNT_HELP)) -> None:
    settings = load_settings()
    services = build_services(settings)
    table = Table("id", "name", "prefix", "scopes", "created by", "revoked")
    for info in list_tokens(services.sessions, account_id=account or settings.account_id):
        table.add_row(str(info.id), info.name, info.prefix, ",".join(info.scopes),
                      info.created_by, "yes" if info.revoked else "")
    console.print(table)


@tokens_app.command("revoke")
def tokens_revoke(token_id: int,
                  account: str | None = typer.Option(None, help=ACCOUNT_HELP)) -> None:
    settings = load_settings()
    services = build_services(settings)
    try:
        revoke_token(services.sessions, services.clock,
                     account_id=account or settings.account_id, token_id=token_id,
                     actor=cli_actor())
    except NotFound as problem:
        console.print(f"[red]{problem}[/red]")
        raise typer.Exit(2) from None
    console.print(f"token {token_id} revoked")
