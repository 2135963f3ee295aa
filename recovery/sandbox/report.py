"""Presenting simulation results: the terminal table, the JSON report and the chart."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from rich.table import Table

from recovery.dashboard.charts import CurveSeries, recovery_curve_figure, standalone_page
from recovery.sandbox.metrics import RunMetrics


def results_table(results: Sequence[RunMetrics], mode: str) -> Table:
    """``mode``: which renewals the runs faced (``SimulationConfig.mode``)."""
    table = Table(title="Recovery by policy (failures after the warm-up; paid within 30 days)",
                  caption=f"mode: {mode}")
    for column in ("policy", "failed", "recovered", "recovered amount", "rate (count)",
                   "rate (amount)", "net after offers", "median h to recover",
                   "retries / failed", "retries / recovery", "messages / failed",
                   "offers accepted", "cancellations", "max msgs / customer / week",
                   "refusals", "violations"):
        table.add_column(column, justify="left" if column == "policy" else "right")
    for m in results:
        median = f"{m.median_hours_to_recover:.1f}" if m.median_hours_to_recover else "-"
        table.add_row(
            m.policy, str(m.failed_invoices), str(m.recovered), f"{m.recovered_amount / 100:,.2f}",
            f"{m.recovery_rate:.1%}", f"{m.amount_rate:.1%}",
            f"{m.net_recovered_amount / 100:,.2f}", median,
            f"{m.retries_per_failed:.2f}", f"{m.retries_per_recovery:.2f}",
            f"{m.messages_per_failed:.2f}", f"{m.offers_accepted} of {m.offers_shown}",
            str(m.voluntary_cancellations), str(m.max_messages_per_customer_week),
            str(m.refusals), str(m.violations))
    return table


def decline_class_table(results: Sequence[RunMetrics]) -> Table:
    """Recovery rate by count per decline class of the first failure, one column per policy."""
    table = Table(title="Recovery rate by the first failure's decline class (failed invoices)")
    table.add_column("decline class")
    for m in results:
        table.add_column(m.policy, justify="right")
    classes = sorted({c for m in results for c in m.by_decline_class})
    for decline_class in classes:
        cells = []
        for m in results:
            failed, recovered = m.by_decline_class.get(decline_class, [0, 0])
            cells.append(f"{recovered / failed:.0%} of {failed}" if failed else "-")
        table.add_row(decline_class, *cells)
    return table


def write_report(path: Path, config: dict, results: Sequence[RunMetrics],
                 wall_seconds: float, mode: str) -> tuple[Path, Path]:
    """``path`` is a directory (created) or a ``.json`` file; the chart goes beside it. Both
    say which renewals the runs faced (``mode``)."""
    if path.suffix == ".json":
        json_path, chart_path = path, path.with_suffix(".html")
    else:
        json_path, chart_path = path / "simulation.json", path / "recovery_curve.html"
    json_path.parent.mkdir(parents=True, exist_ok=True)
    body = {"config": config, "mode": mode, "wall_seconds": wall_seconds,
            "results": [m.to_dict() for m in results]}
    json_path.write_text(json.dumps(body, indent=2, default=str))
    chart_path.write_text(recovery_chart(results, mode))
    return json_path, chart_path


def recovery_chart(results: Sequence[RunMetrics], mode: str) -> str:
    """Recovered share against days since the first failure, one line per policy: the
    dashboard's recovery-curve figure, as a page that opens offline (plotly.js inlined)."""
    figure = recovery_curve_figure([CurveSeries(m.policy, m.recovered_by_day, m.recovery_rate)
                                    for m in results])
    return standalone_page(figure, "Recovered share by day since the first failure",
                           f"mode: {mode}")
