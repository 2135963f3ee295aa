"""``recovery metrics``: the recovery-rate reports in the terminal (rich tables) or as CSV, through
the same functions as ``/v1/metrics/...``.

    recovery metrics rate --by decline_class --days 90 --within 30 [--account A] [--csv]
    recovery metrics curve | recovered-by | effort | at-risk | offenders | channels | templates
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

import typer
from rich.table import Table

from recovery.cli.common import console, load_settings
from recovery.errors import InvalidReportQuery
from recovery.reports import at_risk, channels, effort, offenders, recovered_by
from recovery.reports.cohort import Period
from recovery.reports.groups import Grouping
from recovery.reports.recovery_curve import recovery_curve
from recovery.reports.recovery_rates import recovery_rate
from recovery.reports.tables import ReportTable, to_csv
from recovery.wiring import build_services

metrics_app = typer.Typer(help="Recovery-rate metrics: rates, curve, how recovered, effort, "
                               "cases at risk, offenders, channels and templates.",
                          no_args_is_help=True)

DAYS = typer.Option(90, "--days", min=1, help="The period: the last DAYS days (to now)")
WITHIN = typer.Option(30, "--within", min=1, max=365,
                      help="N: recovered within N days of the first failure")
START = typer.Option(None, "--start", help="First day (UTC) instead of --days: YYYY-MM-DD")
END = typer.Option(None, "--end", help="Day after the last (UTC), with --start: YYYY-MM-DD")
ACCOUNT = typer.Option(None, "--account", help="Account id (default: the settings' account)")
CURRENCY = typer.Option(None, "--currency", help="Currency of the amounts (default: main)")
CSV = typer.Option(False, "--csv", help="Print CSV instead of a table")
LIMIT = typer.Option(None, "--limit", min=1, max=500, help="How many rows")


def _run(report: Callable, days: int, within: int, start: datetime | None,
         end: datetime | None, account: str | None, csv: bool, title: str) -> None:
    """Build the period, call ``report(session, account_id, period)`` and print its table."""
    services = build_services(load_settings())
    try:
        period = _period(services.clock.now(), days, within, start, end)
        with services.sessions() as session:
            result = report(session, account or services.settings.account_id, period)
    except InvalidReportQuery as problem:
        console.print(f"[red]{problem}[/red]")
        raise typer.Exit(2) from None
    finally:
        services.close()
    if csv:
        typer.echo(to_csv(result.table()), nl=False)
        return
    console.print(_rich_table(result.table(), f"{title}, {_describe(period)}"))


def _period(now: datetime, days: int, within: int, start: datetime | None,
            end: datetime | None) -> Period:
    if start is None and end is None:
        return Period.last_days(now, days, within)
    if start is None or end is None:
        raise InvalidReportQuery("give both --start and --end, or neither (then --days)")
    return Period(start, end, within)


def _describe(period: Period) -> str:
    last = period.end - timedelta(microseconds=1)
    return (f"first failures {period.start:%Y-%m-%d} to {last:%Y-%m-%d}, recovered within "
            f"{period.within_days} days")


def _rich_table(table: ReportTable, title: str) -> Table:
    shown = Table(*table.columns, title=title)
    for row in table.rows:
        shown.add_row(*(_cell(name, value) for name, value in zip(table.columns, row,
                                                                   strict=True)))
    return shown


def _cell(column: str, value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        is_share = column.endswith(("rate", "share")) or column == "chance"
        return f"{value:.1%}" if is_share else f"{value:,.2f}"
    return str(value)


def _parse_day(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.combine(date.fromisoformat(value), time(0), tzinfo=UTC)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


@metrics_app.command("rate")
def rate(by: Grouping = typer.Option(None, "--by", help="Group by this dimension"),
         days: int = DAYS, within: int = WITHIN, start: str = START, end: str = END,
         account: str = ACCOUNT, currency: str = CURRENCY, csv: bool = CSV) -> None:
    """Recovery rate by count and amount, overall or grouped."""
    _run(lambda s, a, p: recovery_rate(s, a, p, by=by, currency=currency), days, within,
         _parse_day(start), _parse_day(end), account, csv,
         f"Recovery rate{f' by {by.value}' if by else ''}")


@metrics_app.command("curve")
def curve(days: int = DAYS, within: int = WITHIN, start: str = START, end: str = END,
          account: str = ACCOUNT, csv: bool = CSV) -> None:
    """Share of the cohort recovered by each day since its first failure."""
    _run(recovery_curve, days, within, _parse_day(start), _parse_day(end), account, csv,
         "Recovery curve")


@metrics_app.command("recovered-by")
def how_recovered(days: int = DAYS, within: int = WITHIN, start: str = START, end: str = END,
                  account: str = ACCOUNT, currency: str = CURRENCY, csv: bool = CSV) -> None:
    """How the recovered cases were recovered (retry, card update, customer, offer, ...)."""
    _run(lambda s, a, p: recovered_by.recovered_by_shares(s, a, p, currency=currency), days,
         within, _parse_day(start), _parse_day(end), account, csv, "Recovered by")


@metrics_app.command("effort")
def effort_command(days: int = DAYS, within: int = WITHIN, start: str = START, end: str = END,
                   account: str = ACCOUNT, csv: bool = CSV) -> None:
    """Attempts and messages per recovery."""
    _run(effort.effort_per_recovery, days, within, _parse_day(start), _parse_day(end), account,
         csv, "Attempts and messages per recovery")


@metrics_app.command("at-risk")
def at_risk_command(days: int = DAYS, within: int = WITHIN, start: str = START,
                    end: str = END, account: str = ACCOUNT, currency: str = CURRENCY,
                    limit: int = LIMIT, csv: bool = CSV) -> None:
    """Open cases ranked by predicted recovery chance times amount."""
    _run(lambda s, a, p: at_risk.cases_at_risk(s, a, p, currency=currency,
                                               limit=limit or at_risk.DEFAULT_LIMIT),
         days, within, _parse_day(start), _parse_day(end), account, csv, "Open cases at risk")


@metrics_app.command("offenders")
def offenders_command(days: int = DAYS, within: int = WITHIN, start: str = START,
                      end: str = END, account: str = ACCOUNT, currency: str = CURRENCY,
                      limit: int = LIMIT, csv: bool = CSV) -> None:
    """Customers with the most failed invoices, then the most outstanding."""
    _run(lambda s, a, p: offenders.biggest_offenders(s, a, p, currency=currency,
                                                     limit=limit or offenders.DEFAULT_LIMIT),
         days, within, _parse_day(start), _parse_day(end), account, csv, "Biggest offenders")


@metrics_app.command("channels")
def channels_command(days: int = DAYS, within: int = WITHIN, start: str = START,
                     end: str = END, account: str = ACCOUNT, csv: bool = CSV) -> None:
    """Per channel: messages sent, cases messaged, recovered within N days after one."""
    _run(channels.channel_effectiveness, days, within, _parse_day(start), _parse_day(end),
         account, csv, "Channel effectiveness")


@metrics_app.command("templates")
def templates_command(days: int = DAYS, within: int = WITHIN, start: str = START,
                      end: str = END, account: str = ACCOUNT, csv: bool = CSV) -> None:
    """Per template and channel: messages sent, cases messaged, recovered after one."""
    _run(channels.template_effectiveness, days, within, _parse_day(start), _parse_day(end),
         account, csv, "Template effectiveness")
