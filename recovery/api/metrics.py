"""``/v1/metrics/...``: the recovery-rate reports of ``recovery/reports`` for the caller's account,
as JSON or CSV (``?format=csv`` or ``Accept: text/csv``; the same table ``recovery metrics
--csv`` prints).

Every route takes the period as ``start`` and ``end`` dates (UTC midnight; ``end`` excluded;
default: the 90 days up to and including today) and ``within`` (N, 1-365 days, default 30);
what the figures mean is in ``recovery/reports/cohort.py``. A bad date, an empty period, N out of
range or an unknown grouping answer 422.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from recovery.accounts.tokens import Caller
from recovery.api.auth import require_read
from recovery.api.errors import ERROR_RESPONSES
from recovery.api.metrics_models import (
    AtRiskOut,
    EffortOut,
    MessageEffectsOut,
    OffendersOut,
    RecoveredByOut,
    RecoveryCurveOut,
    RecoveryRateOut,
)
from recovery.errors import InvalidReportQuery
from recovery.reports import at_risk, channels, effort, offenders, recovered_by
from recovery.reports.cohort import MAX_WITHIN_DAYS, Period
from recovery.reports.groups import Grouping
from recovery.reports.recovery_curve import recovery_curve
from recovery.reports.recovery_rates import recovery_rate
from recovery.reports.tables import to_csv
from recovery.runtime.clock import Clock
from recovery.wiring import Services

DEFAULT_DAYS = 90
CSV_TYPE = "text/csv"
CSV_RESPONSE = {200: {"content": {CSV_TYPE: {"schema": {"type": "string"}}},
                      "description": "JSON, or CSV (one line per row) when asked for"}}
Currency = Query(None, pattern="^[A-Za-z]{3}$",
                 description="ISO 4217 code of the amounts (default: the period's main currency)")


def period_parameters(clock: Clock) -> Callable[..., Period]:
    def period(
        start: date | None = Query(None, description="First day (UTC) of the period"),
        end: date | None = Query(None, description="Day (UTC) after the period's last"),
        within: int = Query(30, ge=1, le=MAX_WITHIN_DAYS,
                            description="N: recovered within N days of the first failure"),
    ) -> Period:
        try:
            last = end or clock.now().date() + timedelta(days=1)
            first = start or last - timedelta(days=DEFAULT_DAYS)
        except OverflowError:  # a default 90 days before 0001-01-01
            raise InvalidReportQuery(f"no period of {DEFAULT_DAYS} days ends on {end}") from None
        return Period(_midnight(first), _midnight(last), within)

    return period


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def wants_csv(request: Request,
              format: Literal["json", "csv"] | None = Query(  # noqa: A002 - the API's word
                  None, description="csv, or json (default; or send Accept: text/csv)")) -> bool:
    if format is not None:
        return format == "csv"
    return CSV_TYPE in request.headers.get("accept", "")


def answer(result, model: type[BaseModel], csv: bool):
    if csv:
        return Response(to_csv(result.table()), media_type=f"{CSV_TYPE}; charset=utf-8")
    return model.model_validate(result)


def build_metrics_router(services: Services,
                         caller_dependency: Callable[..., Caller] = require_read) -> APIRouter:
    """``caller_dependency``: who is asking (the bearer token's account); every query is scoped
    to its ``account_id``."""
    router = APIRouter(prefix="/v1/metrics", tags=["metrics"],
                       responses={**ERROR_RESPONSES, **CSV_RESPONSE})
    period_of = period_parameters(services.clock)
    routes = {
        "/recovery-rate": _rate_route, "/recovery-curve": _curve_route,
        "/recovered-by": _recovered_by_route, "/effort": _effort_route,
        "/at-risk": _at_risk_route, "/offenders": _offenders_route,
        "/channels": _channels_route, "/templates": _templates_route,
    }
    for path, add in routes.items():
        add(router, path, services, period_of, caller_dependency)
    return router


def _rate_route(router, path, services, period_of, caller_dependency) -> None:
    @router.get(path, response_model=RecoveryRateOut,
                summary="Recovery rate (count and amount), overall or grouped")
    def rate(period: Period = Depends(period_of), by: Grouping | None = None,
             currency: str | None = Currency, csv: bool = Depends(wants_csv),
             caller: Caller = Depends(caller_dependency)):
        with services.sessions() as session:
            result = recovery_rate(session, caller.account_id, period, by=by, currency=currency)
        return answer(result, RecoveryRateOut, csv)


def _curve_route(router, path, services, period_of, caller_dependency) -> None:
    @router.get(path, response_model=RecoveryCurveOut,
                summary="Share of the cohort recovered by each day since its first failure")
    def curve(period: Period = Depends(period_of), csv: bool = Depends(wants_csv),
              caller: Caller = Depends(caller_dependency)):
        with services.sessions() as session:
            result = recovery_curve(session, caller.account_id, period)
        return answer(result, RecoveryCurveOut, csv)


def _recovered_by_route(router, path, services, period_of, caller_dependency) -> None:
    @router.get(path, response_model=RecoveredByOut,
                summary="How the recovered cases were recovered")
    def how(period: Period = Depends(period_of), currency: str | None = Currency,
            csv: bool = Depends(wants_csv), caller: Caller = Depends(caller_dependency)):
        with services.sessions() as session:
            result = recovered_by.recovered_by_shares(session, caller.account_id, period,
                                                      currency=currency)
        return answer(result, RecoveredByOut, csv)


def _effort_route(router, path, services, period_of, caller_dependency) -> None:
    @router.get(path, response_model=EffortOut,
                summary="Attempts and messages per recovery")
    def effort_route(period: Period = Depends(period_of), csv: bool = Depends(wants_csv),
                     caller: Caller = Depends(caller_dependency)):
        with services.sessions() as session:
            result = effort.effort_per_recovery(session, caller.account_id, period)
        return answer(result, EffortOut, csv)


def _at_risk_route(router, path, services, period_of, caller_dependency) -> None:
    @router.get(path, response_model=AtRiskOut,
                summary="Open cases ranked by predicted recovery chance times amount")
    def at_risk_route(period: Period = Depends(period_of), currency: str | None = Currency,
                      limit: int = Query(at_risk.DEFAULT_LIMIT, ge=1, le=500),
                      csv: bool = Depends(wants_csv),
                      caller: Caller = Depends(caller_dependency)):
        with services.sessions() as session:
            result = at_risk.cases_at_risk(session, caller.account_id, period,
                                           currency=currency, limit=limit)
        return answer(result, AtRiskOut, csv)


def _offenders_route(router, path, services, period_of, caller_dependency) -> None:
    @router.get(path, response_model=OffendersOut,
                summary="Customers with the most failed invoices, then the most outstanding")
    def offenders_route(period: Period = Depends(period_of), currency: str | None = Currency,
                        limit: int = Query(offenders.DEFAULT_LIMIT, ge=1, le=500),
                        csv: bool = Depends(wants_csv),
                        caller: Caller = Depends(caller_dependency)):
        with services.sessions() as session:
            result = offenders.biggest_offenders(session, caller.account_id, period,
                                                 currency=currency, limit=limit)
        return answer(result, OffendersOut, csv)


def _channels_route(router, path, services, period_of, caller_dependency) -> None:
    @router.get(path, response_model=MessageEffectsOut,
                summary="Per channel: messages sent, cases, recovered within N days after")
    def channels_route(period: Period = Depends(period_of), csv: bool = Depends(wants_csv),
                       caller: Caller = Depends(caller_dependency)):
        with services.sessions() as session:
            result = channels.channel_effectiveness(session, caller.account_id, period)
        return answer(result, MessageEffectsOut, csv)


def _templates_route(router, path, services, period_of, caller_dependency) -> None:
    @router.get(path, response_model=MessageEffectsOut,
                summary="Per template and channel: messages sent, cases, recovered after")
    def templates_route(period: Period = Depends(period_of), csv: bool = Depends(wants_csv),
                        caller: Caller = Depends(caller_dependency)):
        with services.sessions() as session:
            result = channels.template_effectiveness(session, caller.account_id, period)
        return answer(result, MessageEffectsOut, csv)
