"""``recovery backfill``: import an account's past invoices, their attempts and outcomes from
Stripe, so smart timing can train on the account's history from day one."""

from __future__ import annotations

from dataclasses import dataclass

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from recovery.accounts.directory import ensure_default_account
from recovery.cli.common import console, load_settings
from recovery.engine.backfill import (
    BackfillState,
    HistorySource,
    backfill_account,
    describe_interruption,
)
from recovery.errors import GatewayError, NotFound
from recovery.wiring import Services, build_services

MAX_DAYS = 3660  # ten years: a window longer than that is a typo
NO_KEY = ("backfill reads the account's history from Stripe: set RECOVERY_STRIPE_API_KEY "
          "(the sandbox has no history to import)")


@dataclass(frozen=True)
class StripeAccess:
    """How to read an account's data from Stripe: the gateway, and the ``Stripe-Account`` to
    act as (None: the key's own account)."""

    gateway: HistorySource
    stripe_account: str | None


def stripe_access(services: Services, account_id: str) -> StripeAccess | None:
    """The one place an account is mapped to its Stripe access; None when no key is set."""
    if services.engine is None:
        return None
    return StripeAccess(services.engine.gateway, services.accounts.stripe_account_of(account_id))


def backfill(
    account: str = typer.Option(None, help="The account (default: the settings' account)."),
    days: int = typer.Option(180, min=1, max=MAX_DAYS,
                             help="Import invoices created in the last DAYS days."),
) -> None:
    """Import past invoices with their payment attempts and outcomes (no case is opened, nothing
    is charged). An interrupted run resumes where it stopped; running it again changes nothing."""
    settings = load_settings()
    services = build_services(settings)
    try:
        account_id = account or settings.account_id
        access = stripe_access(services, account_id)
        if access is None:
            console.print(NO_KEY)
            raise typer.Exit(2)
        ensure_default_account(services.sessions, settings, services.clock)
        state = _run(services, access, account_id, days)
    finally:
        services.close()
    show_summary(state)


def _run(services: Services, access: StripeAccess, account_id: str,
         days: int) -> BackfillState:
    columns = (TextColumn("{task.description}"), BarColumn(),
               TextColumn("{task.percentage:>3.0f}% of the window"),
               TextColumn("{task.fields[invoices]} invoices"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("backfill", total=1.0, invoices=0)

        def show(state: BackfillState) -> None:
            description = f"backfill {account_id}" + (" (resumed)" if state.resumed else "")
            progress.update(task, completed=state.covered, invoices=state.invoices,
                            description=description)

        try:
            return backfill_account(services.sessions, access.gateway, services.clock,
                                    account_id, days=days, stripe_account=access.stripe_account,
                                    on_progress=show)
        except NotFound as problem:
            console.print(str(problem))
            raise typer.Exit(2) from None
        except GatewayError as problem:
            console.print(f"interrupted: {describe_interruption(problem)}")
            console.print("run the same command again to resume where it stopped")
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            console.print("interrupted; run the same command again to resume where it stopped")
            raise typer.Exit(130) from None


def show_summary(state: BackfillState) -> None:
    table = Table("invoices", "attempts added", "cases added", "skipped (nothing new)",
                  title=f"backfill of {state.account_id} since {state.window_start:%Y-%m-%d}"
                  + (" (resumed)" if state.resumed else ""))
    table.add_row(str(state.invoices), str(state.attempts), str(state.cases), str(state.skipped))
    console.print(table)
