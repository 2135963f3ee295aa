"""``/v1/experiments``: A/B experiments between two of the caller's account's policy versions,
started, read with their results so far, stopped and promoted.

Versions are named by their numbers (``/v1/policies/versions``). An experiment of another
account answers 404, for reads and changes alike. Reads need the ``read`` scope, changes
``write``; every change writes an audit row.
"""

from __future__ import annotations

import math
from datetime import datetime

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field

from models import Experiment
from recovery.accounts.tokens import Caller
from recovery.api.auth import require_read, require_write
from recovery.api.errors import ERROR_RESPONSES
from recovery.engine.experiments import (
    ExperimentPlan,
    promote_experiment,
    start_experiment,
    stop_experiment,
)
from recovery.reports.experiment_statistics import Difference, Interval, SequentialResult
from recovery.reports.experiments import (
    ArmResults,
    ExperimentResults,
    experiment_results,
    find_experiment,
    list_experiments,
    version_numbers,
)
from recovery.wiring import Services

EXPERIMENT_ID = Path(..., ge=1, description="The experiment's id")


class StartIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    # Version numbers are 32-bit integers: PostgreSQL refuses a larger one in a query.
    control_version: int = Field(ge=1, le=2**31 - 1,
                                 description="policy version number of the control arm")
    treatment_version: int = Field(ge=1, le=2**31 - 1,
                                   description="policy version number being tried")
    treatment_percent: int = Field(50, ge=1, le=99, description="share of customers, in whole "
                                   "percent, given the treatment")


class PromoteIn(BaseModel):
    arm: str = Field(pattern="^(control|treatment)$", description="the arm whose policy "
                     "version becomes the account's policy")


class ExperimentOut(BaseModel):
    id: int
    name: str
    status: str = Field(description="draft | running | stopped | promoted")
    control_version: int | None
    treatment_version: int | None
    treatment_percent: int
    started_at: datetime | None
    stopped_at: datetime | None
    winner: str | None
    created_by: str | None
    created_at: datetime


class ExperimentIntervalOut(BaseModel):
    low: float | None
    high: float | None
    confidence: float


class DifferenceOut(BaseModel):
    estimate: float | None = Field(description="treatment minus control")
    interval: ExperimentIntervalOut | None = Field(
        description="null: too few ended cases for one")
    method: str = Field(description="newcombe-hybrid-score (rates by count) | "
                        "delta-method-mover (rates by amount) | welch (money per case)")


class ArmOut(BaseModel):
    arm: str
    policy_version: int | None
    customers: int
    cases: int
    open_cases: int = Field(description="not ended yet: outside the rates")
    ended_cases: int
    recovered: int
    recovery_rate: float = Field(description="recovered out of ended cases")
    recovery_rate_interval: ExperimentIntervalOut = Field(description="Wilson score interval")
    amount_cases: int = Field(description="ended cases in the results' currency: those the "
                              "amounts cover")
    amount_due: int = Field(description="of the ended cases in the results' currency, minor "
                            "units")
    amount_recovered: int = Field(description="minor units of the results' currency")
    amount_rate: float = Field(description="recovery rate by amount: amount_recovered / "
                               "amount_due")
    amount_rate_interval: ExperimentIntervalOut | None = Field(
        description="linearised (delta-method) interval of the ratio, on the log-odds scale; "
                    "null: fewer than two ended cases")
    attempts: int
    messages: int
    cancellations: int
    revenue_given_up: int = Field(description="by applied offers (discounts, pauses), minor "
                                  "units of the results' currency")
    net_revenue: int = Field(description="amount recovered less revenue given up")
    attempts_per_case: float
    messages_per_case: float
    cancellation_rate: float


class SequentialOut(BaseModel):
    p_value: float = Field(description="always-valid p-value (mSPRT): may be read at any time")
    stop: bool = Field(description="the difference is significant at alpha: safe to stop")
    leader: str | None
    winner: str | None
    estimate: float | None
    interval: ExperimentIntervalOut = Field(
        description="confidence sequence on the difference of rates")
    looks: int
    alpha: float


class ResultsOut(BaseModel):
    currency: str | None = Field(description="of every amount: the experiment's main currency "
                                 "(most cases); null: no case yet")
    control: ArmOut
    treatment: ArmOut
    recovery_rate_difference: DifferenceOut = Field(
        description="of the recovery rates by count (Newcombe's hybrid score interval)")
    amount_rate_difference: DifferenceOut = Field(
        description="of the recovery rates by amount, built from the arms' intervals")
    amount_recovered_per_case_difference: DifferenceOut
    net_revenue_per_case_difference: DifferenceOut
    sequential: SequentialOut


class ExperimentDetailOut(ExperimentOut):
    results: ResultsOut


class PromotedOut(ExperimentOut):
    policy_version: int = Field(description="the account's new policy version")


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _interval(interval: Interval) -> ExperimentIntervalOut:
    return ExperimentIntervalOut(low=_finite(interval.low), high=_finite(interval.high),
                       confidence=interval.confidence)


def _difference(difference: Difference) -> DifferenceOut:
    return DifferenceOut(estimate=_finite(difference.estimate), method=difference.method,
                         interval=_interval(difference.interval) if difference.interval
                         else None)


def _arm(arm: ArmResults, numbers: dict[int, int]) -> ArmOut:
    return ArmOut(
        arm=arm.arm.value, policy_version=numbers.get(arm.policy_version_id),
        customers=arm.customers, cases=arm.cases, open_cases=arm.open_cases,
        ended_cases=arm.recovered.trials, recovered=arm.recovered.successes,
        recovery_rate=arm.recovered.rate, recovery_rate_interval=_interval(arm.recovered.interval),
        amount_cases=arm.amount.cases, amount_due=arm.amount_due,
        amount_recovered=arm.amount_recovered, amount_rate=arm.amount_rate,
        amount_rate_interval=_interval(arm.amount.interval) if arm.amount.interval else None,
        attempts=arm.attempts, messages=arm.messages,
        cancellations=arm.cancellations, revenue_given_up=arm.revenue_given_up,
        net_revenue=arm.net_revenue, attempts_per_case=arm.attempts_per_case,
        messages_per_case=arm.messages_per_case, cancellation_rate=arm.cancellation_rate)


def _sequential(result: SequentialResult) -> SequentialOut:
    return SequentialOut(
        p_value=result.p_value, stop=result.stop,
        leader=result.leader.value if result.leader else None,
        winner=result.winner.value if result.winner else None,
        estimate=_finite(result.estimate), interval=_interval(result.interval),
        looks=result.looks, alpha=result.alpha)


def results_out(results: ExperimentResults, numbers: dict[int, int]) -> ResultsOut:
    return ResultsOut(
        currency=results.currency,
        control=_arm(results.control, numbers), treatment=_arm(results.treatment, numbers),
        recovery_rate_difference=_difference(results.recovery_rate_difference),
        amount_rate_difference=_difference(results.amount_rate_difference),
        amount_recovered_per_case_difference=_difference(
            results.amount_recovered_per_case_difference),
        net_revenue_per_case_difference=_difference(results.net_revenue_per_case_difference),
        sequential=_sequential(results.sequential))


def _fields(experiment: Experiment, numbers: dict[int, int]) -> dict:
    return dict(
        id=experiment.id, name=experiment.name, status=experiment.status,
        control_version=numbers.get(experiment.control_policy_version_id),
        treatment_version=numbers.get(experiment.treatment_policy_version_id),
        treatment_percent=experiment.treatment_percent, started_at=experiment.started_at,
        stopped_at=experiment.stopped_at, winner=experiment.winner,
        created_by=experiment.created_by, created_at=experiment.created_at)


def build_experiments_router(services: Services) -> APIRouter:
    router = APIRouter(prefix="/v1/experiments", tags=["experiments"],
                       responses=ERROR_RESPONSES)

    def described(account_id: str, experiment: Experiment, model=ExperimentOut, **extra):
        with services.sessions() as session:
            numbers = version_numbers(session, account_id, {
                experiment.control_policy_version_id, experiment.treatment_policy_version_id})
        return model(**_fields(experiment, numbers), **extra)

    @router.get("", response_model=list[ExperimentOut])
    def read_experiments(caller: Caller = Depends(require_read)) -> list[ExperimentOut]:
        with services.sessions() as session:
            found = list_experiments(session, caller.account_id)
            numbers = version_numbers(session, caller.account_id, {
                version for e in found
                for version in (e.control_policy_version_id, e.treatment_policy_version_id)})
        return [ExperimentOut(**_fields(experiment, numbers)) for experiment in found]

    @router.post("", response_model=ExperimentOut, status_code=201)
    def start(body: StartIn, caller: Caller = Depends(require_write)) -> ExperimentOut:
        experiment = start_experiment(
            services.sessions, services.clock, account_id=caller.account_id,
            plan=ExperimentPlan(body.name, body.control_version, body.treatment_version,
                                body.treatment_percent), actor=caller.actor)
        return described(caller.account_id, experiment)

    @router.get("/{experiment_id}", response_model=ExperimentDetailOut)
    def read_experiment(experiment_id: int = EXPERIMENT_ID,
                        caller: Caller = Depends(require_read)) -> ExperimentDetailOut:
        with services.sessions() as session:
            experiment = find_experiment(session, caller.account_id, experiment_id)
            results = experiment_results(session, caller.account_id, experiment_id)
            numbers = version_numbers(session, caller.account_id, {
                experiment.control_policy_version_id, experiment.treatment_policy_version_id})
        return ExperimentDetailOut(**_fields(experiment, numbers),
                                   results=results_out(results, numbers))

    @router.post("/{experiment_id}/stop", response_model=ExperimentOut)
    def stop(experiment_id: int = EXPERIMENT_ID,
             caller: Caller = Depends(require_write)) -> ExperimentOut:
        experiment = stop_experiment(services.sessions, services.clock,
                                     account_id=caller.account_id, experiment_id=experiment_id,
                                     actor=caller.actor)
        return described(caller.account_id, experiment)

    @router.post("/{experiment_id}/promote", response_model=PromotedOut)
    def promote(body: PromoteIn, experiment_id: int = EXPERIMENT_ID,
                caller: Caller = Depends(require_write)) -> PromotedOut:
        experiment, version = promote_experiment(
            services.sessions, services.clock, account_id=caller.account_id,
            experiment_id=experiment_id, arm=body.arm, actor=caller.actor)
        return described(caller.account_id, experiment, PromotedOut,
                         policy_version=version.number)

    return router
