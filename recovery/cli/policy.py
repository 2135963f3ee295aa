"""``recovery policy``: show or set the default account's retry policy."""

from __future__ import annotations

import json

import typer

from recovery.accounts.directory import ensure_default_account
from recovery.cli.common import console, load_settings
from recovery.errors import PolicyError
from recovery.wiring import build_services

policy_app = typer.Typer(help="The account's retry policy.", no_args_is_help=True)


@policy_app.command("show")
def policy_show() -> None:
    """The default account's policy (defaults filled in)."""
    from models import Account  # noqa: PLC0415
    from recovery.engine.planning import policy_of  # noqa: PLC0415

    settings = load_settings()
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
    from recovery.rules.policy import RetryPolicy  # noqa: PLC0415

    settings = load_settings()
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
