"""The chart builders, and the ``simulate`` report drawn with them: the same figure on the
dashboard and in the report, with axis ticks, and a report page that opens offline."""

from __future__ import annotations

import json
import re

import pytest

from recovery.dashboard.charts import (
    ArmRates,
    CurveSeries,
    RateBar,
    arm_rates_figure,
    breakdown_figure,
    figure_json,
    recovery_curve_figure,
)
from recovery.sandbox.metrics import RunMetrics
from recovery.sandbox.report import recovery_chart


def test_the_recovery_curve_has_a_tick_every_five_days_and_shares_in_percent():
    figure = json.loads(figure_json(recovery_curve_figure([
        CurveSeries("weekly", [0.0, 0.1, 0.25, 0.3], rate=0.3),
        CurveSeries("smart", [0.0, 0.2, 0.3, 0.4, 0.41])])))
    x_axis, y_axis = figure["layout"]["xaxis"], figure["layout"]["yaxis"]
    assert (x_axis["tick0"], x_axis["dtick"], x_axis["range"]) == (0, 5, [0, 4])
    assert y_axis["tickformat"] == ".0%"
    assert [trace["name"] for trace in figure["data"]] == ["weekly (30.0%)", "smart"]
    assert list(figure["data"][1]["y"]) == [0.0, 0.2, 0.3, 0.4, 0.41]
    assert figure["data"][0]["line"]["color"] != figure["data"][1]["line"]["color"]


def test_a_breakdown_shows_the_rate_by_count_and_by_amount_per_group():
    figure = json.loads(figure_json(breakdown_figure("Recovery rate by brand", [
        RateBar("mastercard", 4, 0.5, 0.7), RateBar("visa", 10, 0.2, 0.1)])))
    by_count, by_amount = figure["data"]
    assert list(by_count["x"]) == ["mastercard", "visa"]
    assert (list(by_count["y"]), list(by_amount["y"])) == ([0.5, 0.2], [0.7, 0.1])
    assert list(by_count["customdata"]) == [4, 10]  # the cases each rate is out of
    assert figure["layout"]["yaxis"]["tickformat"] == ".0%"


def test_the_simulate_report_draws_the_dashboards_curve_and_works_offline():
    results = [RunMetrics("fixed", failed_invoices=10, recovered=3,
                          recovered_by_day=[0.0] + [0.3] * 30),
               RunMetrics("smart", failed_invoices=10, recovered=4,
                          recovered_by_day=[0.0, 0.1] + [0.4] * 29)]
    page = recovery_chart(results, "renewals")
    assert "mode: renewals" in page
    assert not re.search(r"<script[^>]+src=", page)  # plotly.js is inlined, nothing fetched
    assert "Plotly.newPlot" in page
    expected = recovery_curve_figure([CurveSeries("fixed", results[0].recovered_by_day, 0.3),
                                      CurveSeries("smart", results[1].recovered_by_day, 0.4)])
    for trace in json.loads(figure_json(expected))["data"]:
        assert json.dumps(trace["name"]) in page
    assert '"dtick":5' in page and '"tickformat":".0%"' in page


def test_the_arms_chart_draws_each_interval_as_an_error_bar_around_its_rate():
    figure = json.loads(figure_json(arm_rates_figure("Arms", [
        ArmRates("control", 0.5, (0.4, 0.62), 0.45, (0.3, 0.55)),
        ArmRates("treatment", 0.6, (0.5, 0.7), 0.7, None)])))
    by_count, by_amount = figure["data"]
    assert list(by_count["x"]) == ["control", "treatment"]
    assert (list(by_count["y"]), list(by_amount["y"])) == ([0.5, 0.6], [0.45, 0.7])
    assert by_count["error_y"]["array"] == [pytest.approx(0.12), pytest.approx(0.1)]
    assert by_count["error_y"]["arrayminus"] == [pytest.approx(0.1), pytest.approx(0.1)]
    # No interval (too few cases): no bar either way.
    assert by_amount["error_y"]["array"][1] == by_amount["error_y"]["arrayminus"][1] == 0.0
    assert figure["layout"]["yaxis"]["range"] == [0, 1]
