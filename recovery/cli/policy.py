"""``recovery policy``: show or set the default account's retry and communication policies."""

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
    """The default account's policy (defaults filled in), its communication policy included."""
    from models import Account  # noqa: PLC0415
    from recovery.engine.policies import communication_of, policy_of  # noqa: PLC0415

    settings = load_settings()
    services = build_services(settings)
    ensure_default_account(services.sessions, settings, services.clock)
    with services.sessions() as session:
        account = session.get(Account, settings.account_id)
        shown = policy_of(account).to_dict()
        shown["communication"] = communication_of(account).to_dict()
    console.print_json(json.dumps(shown))


@policy_app.command("set")
def policy_set(policy_json: str = typer.Argument(..., help='e.g. \'{"name": "weekly", '
                                                 '"offsets_days": [2, 7, 14], '
                                                 '"communication": {"max_per_case": 4}}\'')
               ) -> None:
    """Validate and save the default account's policy (usable by name in ``simulate``); a
    ``communication`` section replaces the communication policy, else the stored one stays."""
    from models import Account  # noqa: PLC0415
    from recovery.rules.communication import CommunicationPolicy  # noqa: PLC0415
    from recovery.rules.policy import POLICY_SECTIONS, RetryPolicy  # noqa: PLC0415

    settings = load_settings()
    try:
        data = json.loads(policy_json)
        if not isinstance(data, dict):
            raise PolicyError("expected a JSON object of policy fields")
        policy = RetryPolicy.from_dict(data)
        communication = CommunicationPolicy.from_mapping(data["communication"]) \
            if "communication" in data else None
    except (json.JSONDecodeError, PolicyError, TypeError, AttributeError) as problem:
        console.print(f"[red]invalid policy: {problem}[/red]")
        raise typer.Exit(2) from None
    services = build_services(settings)
    ensure_default_account(services.sessions, settings, services.clock)
    with services.sessions() as session:
        account = session.get(Account, settings.account_id)
        # The sections other policies own (branding, offers, ...) stay as they were.
        stored = {key: value for key, value in (account.policy or {}).items()
                  if key in POLICY_SECTIONS}
        stored.update(policy.to_dict())
        if communication is not None:
            stored["communication"] = communication.to_dict()
        account.policy = stored
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
