"""The overview: for a chosen period, the recovery rate by count and by amount, the recovered
revenue, the recovery curve, and the rate by decline class, card brand, country, channel and
policy, each drawn as a chart."""

from __future__ import annotations

import json

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from recovery.dashboard.charts import (
    CurveSeries,
    breakdown_figure,
    figure_json,
    recovery_curve_figure,
)
from recovery.dashboard.overview import Overview, account_overview
from recovery.dashboard.rendering import Pages
from recovery.reports.cohort import Period
from recovery.wiring import Services

DAY_CHOICES = (7, 30, 90, 365)
WITHIN_CHOICES = (7, 14, 30, 60, 90)


def add_routes(router: APIRouter, pages: Pages, services: Services) -> None:
    @router.get("/")
    def overview_page(request: Request, days: int = Query(30, ge=1, le=3650),
                      within: int = Query(30, ge=1, le=365)) -> Response:
        account_id = pages.access.signed_in(request).account_id
        period = Period.last_days(services.clock.now(), days, within)
        figures = account_overview(services.sessions, account_id, period)
        return pages.render(request, "overview.html", {
            "nav": "overview", "figures": figures, "days": days, "within": within,
            "day_choices": sorted({*DAY_CHOICES, days}),
            "within_choices": sorted({*WITHIN_CHOICES, within}), "charts": charts(figures)})

    router.add_api_route("", overview_page, methods=["GET"], include_in_schema=False)


def charts(figures: Overview) -> list[dict]:
    """Each chart's element id, title and figure (as plotly.js reads it)."""
    curve = recovery_curve_figure([CurveSeries("cases in the period", figures.curve,
                                               figures.rate)])
    found = [{"id": "chart-curve", "title": "Recovery curve", "figure": curve}]
    found += [{"id": f"chart-{b.dimension}", "title": f"Recovery rate by {b.title.lower()}",
               "figure": breakdown_figure(f"Recovery rate by {b.title.lower()}", b.bars)}
              for b in figures.breakdowns]
    return [{**chart, "figure": json.loads(figure_json(chart["figure"]))} for chart in found]
