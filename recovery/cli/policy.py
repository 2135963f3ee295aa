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
    from recovery.engine.policies import policy_of  # noqa: PLC0415

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


ZONE_HELP = "an IANA time zone, e.g. Europe/Paris; leave out to show the current one"


@policy_app.command("timezone")
def policy_timezone(zone: str | None = typer.Argument(None, help=ZONE_HELP)) -> None:
    """The time zone of customers Stripe knows no country for (no address, no card country)."""
    from models import Account  # noqa: PLC0415
    from recovery.engine.customer_zones import DEFAULT_ZONE, valid_zone  # noqa: PLC0415

    if zone is not None and valid_zone(zone) is None:
        console.print(f"[red]unknown time zone: {zone!r} (use an IANA name)[/red]")
        raise typer.Exit(2)
    settings = load_settings()
    services = build_services(settings)
    ensure_default_account(services.sessions, settings, services.clock)
    with services.sessions() as session:
        account = session.get(Account, settings.account_id)
        if zone is not None:
            account.timezone = zone
            session.commit()
        console.print(account.timezone or f"{DEFAULT_ZONE} (not set)")
