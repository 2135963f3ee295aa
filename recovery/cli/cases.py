"""``recovery cases``: list recovery cases, or show one's timeline."""

from __future__ import annotations

import typer
from rich.table import Table

from recovery.cli.common import console, load_settings
from recovery.errors import NotFound
from recovery.reports import cases as case_report
from recovery.wiring import build_services

cases_app = typer.Typer(help="Recovery cases: list them, or show one's timeline.",
                        no_args_is_help=True)


ACCOUNT_HELP = "The account (default: the settings' account)."


@cases_app.command("list")
def cases_list(status: str = typer.Option(None, help="open, recovered, exhausted, ..."),
               limit: int = typer.Option(50, min=1, max=case_report.MAX_PAGE),
               account: str = typer.Option(None, help=ACCOUNT_HELP)) -> None:
    """The newest recovery cases."""
    settings = load_settings()
    services = build_services(settings)
    table = Table("invoice", "status", "waiting for", "amount", "first failed", "last reason")
    page = case_report.list_cases(services.sessions, account_id=account or settings.account_id,
                                  filters=case_report.CaseFilters(status=status), limit=limit)
    for case in page.cases:
        table.add_row(case.stripe_invoice_id, case.status, case.waiting_for,
                      f"{case.amount_due / 100:.2f} {case.currency}",
                      case.first_failed_at.strftime("%Y-%m-%d %H:%M"), case.last_reason or "")
    console.print(table)


@cases_app.command("show")
def cases_show(invoice_id: str,
               account: str = typer.Option(None, help=ACCOUNT_HELP)) -> None:
    """One case: its attempts, declines, messages, reasons and next step."""
    settings = load_settings()
    services = build_services(settings)
    try:
        case, timeline = case_report.case_timeline(
            services.sessions, account_id=account or settings.account_id, invoice_id=invoice_id)
    except NotFound as problem:
        console.print(str(problem))
        raise typer.Exit(1) from None
    console.print(f"[bold]{case.stripe_invoice_id}[/bold] {case.status} "
                  f"(waiting for {case.waiting_for}; recovered by {case.recovered_by or '-'})")
    table = Table("when (UTC)", "what", "detail")
    for entry in timeline:
        detail = entry.detail
        if entry.explanation:
            detail = f"{detail}\n{describe_decision(entry.explanation)}"
        table.add_row(entry.at.strftime("%Y-%m-%d %H:%M"), entry.what, detail)
    console.print(table)
    console.print(f"next step: {case.last_reason or '-'}")


def describe_decision(explanation: dict) -> str:
    """A retry decision's explanation in a few lines: the score curve, the choice, and the
    features that weighed most."""
    def share(value) -> str:
        return "-" if value is None else f"{value:.1%}"

    quantiles = explanation.get("quantiles") or {}
    lines = [
        f"why: {explanation.get('source', '?')}",
        f"  chance at the chosen time {share(explanation.get('chosen_chance'))}"
        f" ({explanation.get('hours_after_now', '?')} h after the decision); best "
        f"{share(explanation.get('best_chance'))} at {explanation.get('best_at', '-')}",
        f"  fixed schedule: {share(explanation.get('fixed_chance'))} at "
        f"{explanation.get('fixed_at') or '-'}; over {explanation.get('candidates', '?')} "
        f"allowed hours p10/p50/p90 {share(quantiles.get('p10'))}/"
        f"{share(quantiles.get('p50'))}/{share(quantiles.get('p90'))}",
    ]
    if "propensity" in explanation:
        explored = "explored" if explanation.get("explored") else "greedy"
        lines.append(f"  {explored}, propensity {explanation['propensity']:.3f} "
                     f"(safe set {explanation.get('safe_set', '?')} hours)")
    contributions = explanation.get("contributions") or []
    if contributions:
        lines.append("  top features: " + ", ".join(
            f"{name} {value:+.3g}" if isinstance(value, int | float) else f"{name} {value}"
            for name, value in contributions))
    return "\n".join(lines)
