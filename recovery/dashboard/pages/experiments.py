"""Experiments: the account's A/B experiments between two policy versions, how each arm does so
far (one page per experiment: each arm's rates with their intervals, the differences and the
sequential test), and the forms that start, stop and promote one (through the engine's
experiment functions, as the API's routes do)."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Request
from fastapi.responses import RedirectResponse, Response

from recovery.dashboard.charts import ArmRates, arm_rates_figure, figure_json
from recovery.dashboard.rendering import PREFIX, Pages
from recovery.engine.experiments import (
    ExperimentPlan,
    promote_experiment,
    start_experiment,
    stop_experiment,
)
from recovery.errors import ExperimentError, NotFound
from recovery.reports.experiment_statistics import Interval
from recovery.reports.experiments import (
    ArmResults,
    ExperimentResults,
    experiment_results,
    find_experiment,
    list_experiments,
    version_numbers,
)
from recovery.wiring import Services

MAX_NUMBER = 2**31 - 1  # ids and version numbers are 32-bit integers in the database
EXPERIMENT_ID = Path(..., ge=1, le=MAX_NUMBER)


def add_routes(router: APIRouter, pages: Pages, services: Services) -> None:
    def experiments_page(request: Request, *, problem: str | None = None,
                         status_code: int = 200) -> Response:
        account_id = pages.access.signed_in(request).account_id
        with services.sessions() as session:
            experiments = list_experiments(session, account_id)
            numbers = version_numbers(session, account_id, {
                i for e in experiments
                for i in (e.control_policy_version_id, e.treatment_policy_version_id)})
            results = {e.id: experiment_results(session, account_id, e.id)
                       for e in experiments}
        return pages.render(request, "experiments.html", {
            "nav": "experiments", "experiments": experiments, "numbers": numbers,
            "results": results, "problem": problem,
            "done": request.query_params.get("done")}, status_code=status_code)

    @router.get("/experiments")
    def experiments_list(request: Request) -> Response:
        return experiments_page(request)

    @router.get("/experiments/{experiment_id}")
    def experiment_detail(request: Request, experiment_id: int = EXPERIMENT_ID) -> Response:
        account_id = pages.access.signed_in(request).account_id
        with services.sessions() as session:
            experiment = find_experiment(session, account_id, experiment_id)
            results = experiment_results(session, account_id, experiment_id)
            numbers = version_numbers(session, account_id, {
                experiment.control_policy_version_id, experiment.treatment_policy_version_id})
        return pages.render(request, "experiment.html", {
            "nav": "experiments", "e": experiment, "r": results, "numbers": numbers,
            "chart": arms_chart(results, numbers)})

    @router.post("/experiments")
    async def experiment_start(request: Request) -> Response:
        posted = await pages.access.posted(request)
        caller = posted.visitor.caller
        try:
            plan = ExperimentPlan(
                posted.field("name"), _whole(posted.field("control"), "control version"),
                _whole(posted.field("treatment"), "treatment version"),
                _whole(posted.field("treatment_percent", "50"), "treatment share"))
            started = start_experiment(services.sessions, services.clock,
                                       account_id=caller.account_id, plan=plan,
                                       actor=caller.actor)
        except (ExperimentError, NotFound) as error:  # NotFound: a version the account lacks
            return experiments_page(request, problem=str(error), status_code=422)
        return _done(f"experiment {started.id} is running")

    @router.post("/experiments/{experiment_id}/stop")
    async def experiment_stop(request: Request, experiment_id: int = EXPERIMENT_ID) -> Response:
        caller = (await pages.access.posted(request)).visitor.caller
        try:
            stop_experiment(services.sessions, services.clock, account_id=caller.account_id,
                            experiment_id=experiment_id, actor=caller.actor)
        except ExperimentError as error:
            return experiments_page(request, problem=str(error), status_code=422)
        return _done(f"experiment {experiment_id} is stopped")

    @router.post("/experiments/{experiment_id}/promote")
    async def experiment_promote(request: Request,
                                 experiment_id: int = EXPERIMENT_ID) -> Response:
        posted = await pages.access.posted(request)
        caller = posted.visitor.caller
        try:
            _experiment, adopted = promote_experiment(
                services.sessions, services.clock, account_id=caller.account_id,
                experiment_id=experiment_id, arm=posted.field("arm"), actor=caller.actor)
        except ExperimentError as error:
            return experiments_page(request, problem=str(error), status_code=422)
        return _done(f"the {posted.field('arm')} arm is the policy now, as version "
                     f"{adopted.number}")


def arms_chart(results: ExperimentResults, numbers: dict[int, int]) -> dict:
    """The arms' rates with their intervals, as plotly.js reads the figure."""
    def arm(results_of_arm: ArmResults) -> ArmRates:
        version = numbers.get(results_of_arm.policy_version_id, "?")
        return ArmRates(f"{results_of_arm.arm.value} (version {version})",
                        results_of_arm.recovered.rate, _span(results_of_arm.recovered.interval),
                        results_of_arm.amount_rate, _span(results_of_arm.amount.interval))

    confidence = results.control.recovered.interval.confidence
    title = f"Recovery rate of ended cases, with {confidence:.0%} intervals"
    figure = arm_rates_figure(title, [arm(results.control), arm(results.treatment)])
    return {"id": "chart-arms", "title": title, "figure": json.loads(figure_json(figure))}


def _span(interval: Interval | None) -> tuple[float, float] | None:
    return (interval.low, interval.high) if interval else None


def _done(what: str) -> RedirectResponse:
    return RedirectResponse(f"{PREFIX}/experiments?{urlencode({'done': what})}",
                            status_code=303)


def _whole(text: str, what: str) -> int:
    """A whole number the database can hold (its integers are 32-bit)."""
    try:
        number = int(text.strip())
    except ValueError:
        raise ExperimentError(f"the {what} must be a whole number, not {text!r}") from None
    if not 0 < number <= MAX_NUMBER:
        raise ExperimentError(f"the {what} must be from 1 to {MAX_NUMBER}, not {number}")
    return number
