"""Presenting simulation results: the terminal table, the JSON report and the chart."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path

from rich.table import Table

from recovery.sandbox.metrics import RunMetrics

COLOURS = ["#555555", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
           "#e377c2", "#17becf", "#bcbd22"]


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
    """Recovered share against days since the first failure, as a self-contained SVG page."""
    width, height, pad = 720, 420, 50
    top = max((max(m.recovered_by_day or [0]) for m in results), default=0) or 1

    def point(day: int, share: float) -> str:
        x = pad + day / 30 * (width - 2 * pad)
        y = height - pad - share / top * (height - 2 * pad)
        return f"{x:.1f},{y:.1f}"

    lines, legend = [], []
    for n, m in enumerate(results):
        colour = COLOURS[n % len(COLOURS)]
        points = " ".join(point(d, s) for d, s in enumerate(m.recovered_by_day))
        lines.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                     f'points="{points}"/>')
        legend.append(f'<text x="{width - pad + 10}" y="{pad + 16 * n}" fill="{colour}" '
                      f'font-size="12">{m.policy} ({m.recovery_rate:.1%})</text>')
    axes = (f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
            f'stroke="black"/><line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" '
            f'stroke="black"/><text x="{width / 2 - 80}" y="{height - 12}">days since first '
            f'failure (0-30)</text><text x="4" y="{pad - 10}">recovered share (max '
            f'{top:.0%})</text>')
    return ("<!doctype html><meta charset='utf-8'><title>Recovered share by day</title>"
            f"<p>mode: {html.escape(mode)}</p>"
            f"<svg xmlns='http://www.w3.org/2000/svg' width='{width + 260}' height='{height}'>"
            + axes + "".join(lines) + "".join(legend) + "</svg>")
