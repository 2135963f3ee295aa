"""``recovery policy``: show or set the default account's policy (each change a new version),
list its versions and roll back to one."""

from __future__ import annotations

import getpass
import json

import typer
from rich.table import Table

from recovery.accounts.directory import ensure_default_account
from recovery.cli.common import console, load_settings
from recovery.errors import NotFound, PolicyError
from recovery.wiring import build_services

policy_app = typer.Typer(help="The account's retry policy.", no_args_is_help=True)


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


@policy_app.command("show")
def policy_show() -> None:
    """The default account's policy (defaults filled in), its communication policy included."""
    from models import Account  # noqa: PLC0415
    from recovery.engine.policies import communication_of  # noqa: PLC0415
    from recovery.reports.policies import active_policy  # noqa: PLC0415

    settings = load_settings()
    services = build_services(settings)
    ensure_default_account(services.sessions, settings, services.clock)
    shown = active_policy(services.sessions, account_id=settings.account_id).document
    with services.sessions() as session:
        shown["communication"] = communication_of(
            session.get(Account, settings.account_id)).to_dict()
    console.print_json(json.dumps(shown))


@policy_app.command("set")
def policy_set(policy_json: str = typer.Argument(..., help='e.g. \'{"name": "weekly", '
                                                 '"offsets_days": [2, 7, 14], '
                                                 '"communication": {"max_per_case": 4}}\''),
               note: str = typer.Option(None, help="why, kept with the new version")) -> None:
    """Validate and save the default account's policy as a new version (usable by name in
    ``simulate``). The retry fields given replace the stored ones; a section given
    (``segments``, ``communication``, ``offers``, ``branding``) replaces that section, and the
    sections left out stay as they were."""
    from models import Account  # noqa: PLC0415
    from recovery.engine.policy_versions import replace_policy  # noqa: PLC0415
    from recovery.rules.policy import POLICY_SECTIONS  # noqa: PLC0415

    settings = load_settings()
    try:
        data = json.loads(policy_json)
    except json.JSONDecodeError as problem:
        console.print(f"[red]invalid policy: {problem}[/red]")
        raise typer.Exit(2) from None
    if not isinstance(data, dict):
        console.print("[red]invalid policy: expected a JSON object of policy fields[/red]")
        raise typer.Exit(2)
    services = build_services(settings)
    ensure_default_account(services.sessions, settings, services.clock)
    with services.sessions() as session:
        stored = session.get(Account, settings.account_id).policy or {}
    kept = {key: value for key, value in stored.items()
            if key in POLICY_SECTIONS and key not in data}
    try:
        version = replace_policy(services.sessions, services.clock,
                                 account_id=settings.account_id, document={**kept, **data},
                                 author=_actor(), note=note)
    except PolicyError as problem:
        console.print(f"[red]{problem}[/red]")
        raise typer.Exit(2) from None
    console.print(f"saved policy {version.document.get('name')!r} as version {version.number}")


@policy_app.command("versions")
def policy_versions_command() -> None:
    """The default account's policy versions, the newest first."""
    from recovery.reports.policies import policy_versions  # noqa: PLC0415

    settings = load_settings()
    services = build_services(settings)
    table = Table("version", "when (UTC)", "author", "note")
    for version in policy_versions(services.sessions, account_id=settings.account_id):
        table.add_row(str(version.number), version.created_at.strftime("%Y-%m-%d %H:%M"),
                      version.author, version.note or "")
    console.print(table)


@policy_app.command("rollback")
def policy_rollback(number: int = typer.Argument(..., min=1, help="the version to go back to")
                    ) -> None:
    """Make an earlier version the default account's policy again (as a new version)."""
    from recovery.engine.policy_versions import rollback_policy  # noqa: PLC0415

    settings = load_settings()
    services = build_services(settings)
    try:
        version = rollback_policy(services.sessions, services.clock,
                                  account_id=settings.account_id, number=number,
                                  author=_actor())
    except (NotFound, PolicyError) as problem:
        console.print(f"[red]{problem}[/red]")
        raise typer.Exit(2) from None
    console.print(f"version {number} is the policy again, as version {version.number}")


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
