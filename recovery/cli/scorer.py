"""``recovery train`` and ``recovery models``: train the smart-timing scorer of an account, list
its versions, promote one, roll back."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.table import Column, Table

# ``ml`` (scikit-learn, skops, pandas) is imported inside each command: the CLI package is
# loaded by every ``recovery`` command, ``serve`` and ``worker`` included, and it takes seconds.
from recovery.accounts.directory import ensure_default_account
from recovery.cli.common import console, load_settings
from recovery.wiring import build_services

if TYPE_CHECKING:
    from ml.promotion import TrainingOutcome
    from ml.training import Metrics

MIN_ATTEMPTS = 500  # as ml.promotion.MIN_ATTEMPTS; a test keeps them equal

versions_app = typer.Typer(help="The smart-timing scorer's trained versions.",
                           no_args_is_help=True)
ACCOUNT_HELP = "The account (default: the settings' account)."


def _services(account: str | None):
    settings = load_settings()
    services = build_services(settings)
    ensure_default_account(services.sessions, settings, services.clock)
    return services, account or settings.account_id


def train(account: str = typer.Option(None, help=ACCOUNT_HELP),
          min_attempts: int = typer.Option(MIN_ATTEMPTS, help="Fewer attempts: no training.")
          ) -> None:
    """Train a new scorer version from the attempt log; promote it only if it beats the active
    version and the decline-class baseline on the latest attempts (the hold-out)."""
    services, account_id = _services(account)
    with console.status("training") as status, services.sessions() as session:
        from ml.promotion import train_and_maybe_promote  # noqa: PLC0415

        outcome = train_and_maybe_promote(
            session, account_id, now=services.clock.now(), min_attempts=min_attempts,
            progress=lambda message: status.update(message))
        session.commit()
    show_outcome(outcome)


def show_outcome(outcome: TrainingOutcome) -> None:
    console.print(f"account {outcome.account_id}: {outcome.samples} attempts")
    if outcome.metrics is not None:
        table = Table("on the hold-out", "log loss", "Brier", "ROC AUC")
        rows = [("new " + (outcome.version or ""), outcome.metrics),
                ("baseline (decline-class rates)", outcome.baseline),
                ("active", outcome.active_metrics)]
        for name, metrics in rows:
            if metrics is not None:
                table.add_row(name, f"{metrics.log_loss:.4f}", f"{metrics.brier:.4f}",
                              "-" if metrics.roc_auc is None else f"{metrics.roc_auc:.3f}")
        console.print(table)
        console.print(calibration_table(outcome.metrics))
        console.print(f"fitted and evaluated in {outcome.seconds:.2f} s")
    console.print(outcome.reason)


def calibration_table(metrics: Metrics) -> Table:
    table = Table("predicted", "attempts", "mean predicted", "observed",
                  title="calibration (hold-out)")
    for bin_ in metrics.calibration:
        table.add_row(f"{bin_.low:.1f}-{bin_.high:.1f}", str(bin_.count),
                      f"{bin_.mean_predicted:.3f}", f"{bin_.observed_rate:.3f}")
    return table


@versions_app.command("list")
def versions_list(account: str = typer.Option(None, help=ACCOUNT_HELP)) -> None:
    """Every version, newest first, with its hold-out metrics."""
    services, account_id = _services(account)
    table = Table(Column("version", no_wrap=True, min_width=11), "active", "created",
                  "attempts", "log loss", "baseline", "AUC", "sklearn")
    with services.sessions() as session:
        from ml.registry import list_versions  # noqa: PLC0415

        for row in list_versions(session, account_id):
            details = row.details or {}
            metrics, baseline = details.get("metrics") or {}, details.get("baseline") or {}
            samples = details.get("samples") or {}
            auc = metrics.get("roc_auc")
            table.add_row(
                row.version, "yes" if row.active else "", row.created_at.strftime("%Y-%m-%d %H:%M"),
                str(samples.get("train", 0) + samples.get("holdout", 0)),
                _number(metrics.get("log_loss")), _number(baseline.get("log_loss")),
                "-" if auc is None else f"{auc:.3f}",
                (details.get("libraries") or {}).get("sklearn", "?"))
    console.print(table)


@versions_app.command("promote")
def versions_promote(version: str, account: str = typer.Option(None, help=ACCOUNT_HELP)) -> None:
    """Make VERSION the active one."""
    from ml.registry import ArtifactRefused, UnknownVersion, promote  # noqa: PLC0415

    services, account_id = _services(account)
    with services.sessions() as session:
        try:
            promote(session, account_id, version, services.clock.now())
        except (UnknownVersion, ArtifactRefused) as problem:
            console.print(str(problem))
            raise typer.Exit(1) from None
        session.commit()
    console.print(f"active: {version}")


@versions_app.command("rollback")
def versions_rollback(account: str = typer.Option(None, help=ACCOUNT_HELP)) -> None:
    """Go back to the version the active one replaced."""
    from ml.registry import ArtifactRefused, UnknownVersion, rollback  # noqa: PLC0415

    services, account_id = _services(account)
    with services.sessions() as session:
        try:
            row = rollback(session, account_id, services.clock.now())
        except (UnknownVersion, ArtifactRefused) as problem:
            console.print(str(problem))
            raise typer.Exit(1) from None
        session.commit()
    console.print(f"active: {row.version}")


def _number(value) -> str:
    return "-" if value is None else f"{value:.4f}"
