"""``recovery accounts``: connect, list and remove Stripe accounts.

The key is never an argument (it would stay in the shell's history and in the process list): it
is read from an environment variable, a file, or a hidden prompt.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.table import Table

from recovery.accounts.connect import connect_connect_account, connect_with_key, new_account_id
from recovery.accounts.directory import ensure_default_account
from recovery.accounts.listing import AccountInfo, list_accounts
from recovery.accounts.removal import remove_account
from recovery.cli.common import cli_actor, console, load_settings
from recovery.errors import (
    AccountConflict,
    AccountRejected,
    ConfigurationError,
    GatewayError,
    NotFound,
)
from recovery.wiring import Services, account_desk, build_services

accounts_app = typer.Typer(help="Connected Stripe accounts.", no_args_is_help=True)

REFUSALS = (AccountRejected, AccountConflict, NotFound, ConfigurationError, GatewayError)


@accounts_app.command("add", context_settings={"allow_extra_args": True,
                                               "ignore_unknown_options": True})
def accounts_add(
    ctx: typer.Context,
    key_from_env: str | None = typer.Option(
        None, "--key-from-env", metavar="VAR", help="read the key from this environment variable"),
    key_file: Path | None = typer.Option(
        None, "--key-file", help="read the key from this file (its first line)"),
    connect: str | None = typer.Option(
        None, "--connect", metavar="acct_...",
        help="a Connect account, reached with the platform's key (RECOVERY_STRIPE_API_KEY)"),
    name: str = typer.Option("", help="a name for the account"),
    account_id: str | None = typer.Option(None, "--id", help="our id for it (default: new)"),
) -> None:
    """Connect an account by its secret or restricted key, or as a Connect account. With none of
    --key-from-env, --key-file and --connect, the key is asked at a hidden prompt."""
    if ctx.args:
        # Taken, rather than left to the usage error, which would print it back.
        _fail("a key is never an argument (it stays in the shell's history): use "
              "--key-from-env VAR, --key-file PATH or the prompt; roll a key typed there")
    given = [source for source in (key_from_env, key_file, connect) if source is not None]
    if len(given) > 1:
        _fail("give one of --key-from-env, --key-file and --connect")
    settings = load_settings()
    services = build_services(settings)
    try:
        ensure_default_account(services.sessions, settings, services.clock)
        info = _connect(services, connect, key_from_env, key_file, name,
                        account_id or new_account_id())
    except REFUSALS as problem:
        _fail(str(problem))
    finally:
        services.close()
    console.print(f"connected {info.id} ({info.mode} mode, by {info.connection}); webhook "
                  f"endpoint {info.webhook_endpoint_id or 'the platform Connect endpoint'}")
    console.print(f"make its API token with: recovery tokens create --account {info.id} "
                  "--scope read --scope write")


@accounts_app.command("list")
def accounts_list(
        include_removed: bool = typer.Option(False, "--all", help="removed accounts too")) -> None:
    settings = load_settings()
    services = build_services(settings)
    table = Table("id", "name", "mode", "kind", "stripe account", "webhook endpoint", "removed")
    for info in list_accounts(services.sessions, include_removed=include_removed):
        table.add_row(info.id, info.name, info.mode, info.connection,
                      info.stripe_account_id or "", info.webhook_endpoint_id or "",
                      info.removed_at.isoformat() if info.removed_at else "")
    services.close()
    console.print(table)


@accounts_app.command("remove")
def accounts_remove(account_id: str) -> None:
    """Delete the account's webhook endpoint on Stripe and stop serving it; its history stays."""
    settings = load_settings()
    services = build_services(settings)
    try:
        remove_account(account_desk(services), account_id=account_id, actor=cli_actor())
    except REFUSALS as problem:
        _fail(str(problem))
    finally:
        services.close()
    console.print(f"account {account_id} removed")


def _connect(services: Services, connect: str | None, key_from_env: str | None,
             key_file: Path | None, name: str, account_id: str) -> AccountInfo:
    desk = account_desk(services)
    if connect is not None:
        return connect_connect_account(desk, account_id=account_id, stripe_account_id=connect,
                                       name=name, actor=cli_actor())
    return connect_with_key(desk, account_id=account_id, key=_read_key(key_from_env, key_file),
                            name=name, actor=cli_actor())


def _read_key(key_from_env: str | None, key_file: Path | None) -> str:
    if key_from_env is not None:
        key = os.environ.get(key_from_env, "")
        if not key.strip():
            _fail(f"the environment variable {key_from_env} is not set")
        return key
    if key_file is not None:
        try:
            lines = key_file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as problem:
            _fail(f"cannot read {key_file}: {type(problem).__name__}")
        return lines[0] if lines else ""
    return typer.prompt("Stripe secret or restricted key", hide_input=True)


def _fail(message: str) -> None:
    console.print(f"[red]{message}[/red]")
    raise typer.Exit(2)
