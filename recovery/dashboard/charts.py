"""The dashboard's charts as plotly figures, built here in Python and drawn by plotly.js.

The same builders draw the ``simulate`` report's chart, so a comparison of policies looks the
same in the report and on the dashboard. Pure: figures from plain numbers, no database, no web
framework. Shares are fractions (0.42 is 42%); amounts are minor units.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

import plotly.graph_objects as go

COLOURS = ["#555555", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
           "#e377c2", "#17becf", "#bcbd22"]
FONT = "system-ui, -apple-system, Segoe UI, Roboto, sans-serif"
INK, GRID, AXIS = "#1d2430", "#e5e9ef", "#8a93a0"
DAY_TICK_STEP = 5


@dataclass(frozen=True)
class CurveSeries:
    """One line of a recovery curve: the share recovered by day 0, 1, ... since the first
    failure; ``rate`` is the series' recovery rate, shown in the legend."""

    name: str
    shares_by_day: Sequence[float]
    rate: float | None = None


@dataclass(frozen=True)
class RateBar:
    """One group of a breakdown: its recovery rate by count and by amount, out of ``cases``
    (``amount_rate`` None: none of the group's cases is in the amounts' currency, so there is
    no rate to draw, rather than a rate of 0)."""

    group: str
    cases: int
    rate: float
    amount_rate: float | None


def recovery_curve_figure(series: Sequence[CurveSeries], *,
                          title: str = "Recovered share by day since the first failure"
                          ) -> go.Figure:
    """One line per series; days on x with a tick every 5 days, the share on y in percent."""
    figure = go.Figure(layout=_layout(title))
    for n, line in enumerate(series):
        label = line.name if line.rate is None else f"{line.name} ({line.rate:.1%})"
        days = list(range(len(line.shares_by_day)))
        figure.add_trace(go.Scatter(
            x=days, y=list(line.shares_by_day), mode="lines", name=label,
            line={"color": COLOURS[n % len(COLOURS)], "width": 2},
            hovertemplate="day %{x}: %{y:.1%}<extra>" + html.escape(line.name) + "</extra>"))
    last_day = max((len(line.shares_by_day) - 1 for line in series), default=30)
    figure.update_xaxes(title_text="days since the first failure", range=[0, max(last_day, 1)],
                        tick0=0, dtick=DAY_TICK_STEP, showgrid=True)
    figure.update_yaxes(title_text="recovered share", tickformat=".0%", rangemode="tozero",
                        showgrid=True)
    figure.update_layout(showlegend=True)  # one line too: the legend carries its rate
    return figure


def breakdown_figure(title: str, bars: Sequence[RateBar]) -> go.Figure:
    """Recovery rate by count and by amount for each group, side by side."""
    figure = go.Figure(layout=_layout(title))
    groups = [bar.group for bar in bars]
    cases = [bar.cases for bar in bars]
    for name, values, colour in (("by count", [bar.rate for bar in bars], COLOURS[1]),
                                 ("by amount", [bar.amount_rate for bar in bars], COLOURS[2])):
        figure.add_trace(go.Bar(
            x=groups, y=values, name=name, marker_color=colour, customdata=cases,
            hovertemplate="%{x}: %{y:.1%} of %{customdata} cases<extra>" + name + "</extra>"))
    figure.update_layout(barmode="group")
    figure.update_xaxes(type="category", title_text=None)
    figure.update_yaxes(title_text="recovery rate", tickformat=".0%", range=[0, 1])
    return figure


@dataclass(frozen=True)
class ArmRates:
    """One arm of an experiment: its recovery rate by count and by amount, each with its
    interval (None: too few cases for one)."""

    arm: str
    rate: float
    rate_interval: tuple[float, float] | None
    amount_rate: float
    amount_interval: tuple[float, float] | None


def arm_rates_figure(title: str, arms: Sequence[ArmRates]) -> go.Figure:
    """Each arm's rate by count and by amount side by side, the intervals as error bars."""
    figure = go.Figure(layout=_layout(title))
    names = [arm.arm for arm in arms]
    for name, colour, rates, intervals in (
            ("by count", COLOURS[1], [a.rate for a in arms], [a.rate_interval for a in arms]),
            ("by amount", COLOURS[2], [a.amount_rate for a in arms],
             [a.amount_interval for a in arms])):
        above, below = _error_bars(rates, intervals)
        spans = [list(span) if span else [None, None] for span in intervals]
        figure.add_trace(go.Bar(
            x=names, y=rates, name=name, marker_color=colour, customdata=spans,
            error_y={"type": "data", "symmetric": False, "array": above,
                     "arrayminus": below, "color": INK, "thickness": 1.5, "width": 6},
            hovertemplate="%{x}: %{y:.1%} (%{customdata[0]:.1%} to %{customdata[1]:.1%})"
                          "<extra>" + name + "</extra>"))
    figure.update_layout(barmode="group")
    figure.update_xaxes(type="category", title_text=None)
    figure.update_yaxes(title_text="recovery rate", tickformat=".0%", range=[0, 1])
    return figure


def _error_bars(rates: Sequence[float], intervals: Sequence[tuple[float, float] | None]
                ) -> tuple[list[float], list[float]]:
    """How far each interval reaches above and below its rate (no bar without an interval)."""
    above, below = [], []
    for rate, interval in zip(rates, intervals, strict=True):
        low, high = interval if interval else (rate, rate)
        above.append(high - rate)
        below.append(rate - low)
    return above, below


def figure_json(figure: go.Figure) -> str:
    """The figure as plotly.js reads it (data and layout), for a page to draw."""
    return figure.to_json()


def standalone_page(figure: go.Figure, title: str, note: str) -> str:
    """A whole HTML page with plotly.js inlined: it opens offline, with no server."""
    body = figure.to_html(full_html=False, include_plotlyjs=True,
                          config={"displaylogo": False, "responsive": True})
    return ("<!doctype html><html><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title></head>"
            f"<body style='font-family: {FONT}'><h1 style='font-size: 1.2rem'>"
            f"{html.escape(title)}</h1><p>{html.escape(note)}</p>{body}</body></html>")


def _layout(title: str) -> go.Layout:
    # No plotly template: its defaults would travel with every figure, many times the size of
    # the data; the few styles used are set here instead.
    axis = {"gridcolor": GRID, "linecolor": AXIS, "zeroline": False, "ticks": "outside",
            "tickcolor": AXIS, "automargin": True}
    return go.Layout(title={"text": title, "x": 0, "xanchor": "left", "font": {"size": 15}},
                     template="none", font={"family": FONT, "size": 12, "color": INK},
                     paper_bgcolor="#ffffff", plot_bgcolor="#ffffff", xaxis=axis, yaxis=axis,
                     margin={"l": 60, "r": 20, "t": 60, "b": 50}, height=360,
                     legend={"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"},
                     hovermode="closest")
