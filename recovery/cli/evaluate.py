"""``recovery evaluate-policy``: a candidate retry policy's recovery rate, estimated from an
account's logged history (direct method, inverse propensity weighting, doubly robust)."""

from __future__ import annotations

from datetime import UTC, datetime

import typer
from rich.table import Table

from recovery.cli.common import console, load_settings
from recovery.errors import PolicyError

POOR_COVERAGE = 0.5  # below this share of cases matched, the estimates are flagged


def evaluate_policy(
    policy: str = typer.Option(..., help="The candidate: fixed:3,8,15 | default | a saved "
                               "policy name (fixed timing)."),
    account: str = typer.Option(None, help="The account (default: the settings' account)."),
    database_url: str = typer.Option(None, help="The database holding the log (default: the "
                                     "settings' database), e.g. a kept sandbox run's."),
    window_hours: float = typer.Option(12.0, min=0.0, help="A logged retry within this many "
                                       "hours of the candidate's counts as the same action."),
    since: datetime = typer.Option(None, help="Only cases first failed at or after this."),
    until: datetime = typer.Option(None, help="Only cases first failed before this (default: "
                                   "30 days before the log's last attempt)."),
    resamples: int = typer.Option(400, min=50, help="Bootstrap resamples."),
    seed: int = typer.Option(0),
) -> None:
    """Estimate a candidate policy's 30-day recovery rate from the logged history."""
    from recovery.runtime.db import make_engine, session_factory  # noqa: PLC0415
    from recovery.sandbox.policies import resolve_policy  # noqa: PLC0415
    from recovery.scoring.logged_history import evaluate_policy as estimate  # noqa: PLC0415

    settings = load_settings()
    url = database_url or settings.database_url
    try:
        candidate = resolve_policy(policy, url)
    except PolicyError as problem:
        console.print(f"[red]{problem}[/red]")
        raise typer.Exit(2) from None
    engine = make_engine(url, pool_size=1)
    try:
        with session_factory(engine)() as session:
            found = estimate(session, account or settings.account_id, candidate,
                             since=_utc(since), until=_utc(until), half_width=window_hours,
                             resamples=resamples, seed=seed)
    except ValueError as problem:
        console.print(f"[red]{problem}[/red]")
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    show(found, window_hours)


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def show(found, window_hours: float) -> None:
    e = found.estimates
    console.print(f"candidate {found.policy}: {e.cases} cases, {e.matched} matched within "
                  f"+-{window_hours:g} h, effective sample size {e.effective_sample_size:.1f}")
    console.print(f"outcome model: {found.outcome_model}; the logging policy recovered "
                  f"{found.logged_rate:.1%} of these cases")
    if e.cases and e.matched < POOR_COVERAGE * e.cases:
        # Where the logging policy never acts as the candidate would, no weight can make up for
        # it: the matched cases are a selected few, and only the outcome model speaks for the rest.
        console.print(f"[yellow]the log covers this candidate poorly ({e.matched} of {e.cases} "
                      "cases matched): IPW rests on a selected few cases and DR leans on the "
                      "outcome model[/yellow]")
    table = Table("estimator", "recovery rate", "95% interval")
    for name, interval in (("direct method", e.direct), ("IPW (self-normalised)", e.ipw),
                           ("doubly robust", e.doubly_robust)):
        table.add_row(name, f"{interval.estimate:.1%}", f"{interval.low:.1%} - {interval.high:.1%}")
    console.print(table)
