"""Experiments: the account's A/B experiments between two policy versions, how each arm does so
far, and the forms that set one up and start it (through the engine's experiment functions)."""

from __future__ import annotations

from fastapi import APIRouter, Path, Request
from fastapi.responses import RedirectResponse, Response

from recovery.dashboard.rendering import PREFIX, Pages
from recovery.engine.experiments import create_experiment, start_experiment
from recovery.errors import ExperimentError
from recovery.reports.experiments import (
    ExperimentResults,
    ExperimentSummary,
    experiment_results,
    list_experiments,
)
from recovery.wiring import Services


def add_routes(router: APIRouter, pages: Pages, services: Services) -> None:
    def experiments_page(request: Request, *, problem: str | None = None,
                         status_code: int = 200) -> Response:
        account_id = pages.access.signed_in(request).account_id
        with services.sessions() as session:
            experiments = list_experiments(session, account_id)
            results = {e.id: _results(session, account_id, e) for e in experiments}
        return pages.render(request, "experiments.html", {
            "nav": "experiments", "experiments": experiments, "results": results,
            "problem": problem, "started": request.query_params.get("started")},
            status_code=status_code)

    @router.get("/experiments")
    def experiments_list(request: Request) -> Response:
        return experiments_page(request)

    @router.post("/experiments")
    async def experiment_create(request: Request) -> Response:
        posted = await pages.access.posted(request)
        caller = posted.visitor.caller
        try:
            create_experiment(
                services.sessions, services.clock, account_id=caller.account_id,
                name=posted.field("name"),
                control_version=_whole(posted.field("control"), "control version"),
                treatment_version=_whole(posted.field("treatment"), "treatment version"),
                treatment_percent=_whole(posted.field("treatment_percent", "50"),
                                         "treatment share"),
                actor=caller.actor)
        except ExperimentError as error:
            return experiments_page(request, problem=str(error), status_code=422)
        return RedirectResponse(f"{PREFIX}/experiments", status_code=303)

    @router.post("/experiments/{experiment_id}/start")
    async def experiment_start(request: Request,
                               experiment_id: int = Path(..., ge=1)) -> Response:
        caller = (await pages.access.posted(request)).visitor.caller
        try:
            start_experiment(services.sessions, services.clock, account_id=caller.account_id,
                             experiment_id=experiment_id, actor=caller.actor)
        except ExperimentError as error:
            return experiments_page(request, problem=str(error), status_code=422)
        return RedirectResponse(f"{PREFIX}/experiments?started={experiment_id}",
                                status_code=303)


def _results(session, account_id: str, experiment: ExperimentSummary) -> ExperimentResults | None:
    """How the arms do so far; none for a draft, which has assigned no one."""
    if experiment.status == "draft":
        return None
    return experiment_results(session, account_id, experiment.id)


def _whole(text: str, what: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ExperimentError(f"the {what} must be a whole number, not {text!r}") from None
