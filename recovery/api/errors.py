"""The one place the error tree becomes HTTP status codes (JSON routers and HTML pages alike).

Bad input answers a 4xx with a clear message, never a 500: a policy, a webhook endpoint, an
experiment or a report query a user gave (422, with each wrong field where there are fields), a
thing that does not exist (404), a link that cannot be used (400 invalid, 410 expired or used).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from recovery.errors import (
    AccountConflict,
    AccountRejected,
    ConfigurationError,
    DeliveryUnavailable,
    ExperimentError,
    FormRejected,
    GatewayUnavailable,
    InvalidEndpoint,
    InvalidReportQuery,
    LinkRejected,
    NotAuthenticated,
    NotFound,
    PolicyError,
    RecoveryError,
    ScopeMissing,
)

log = logging.getLogger("recovery.api")

# Most specific first: the first class the error is an instance of decides.
STATUS_BY_ERROR: tuple[tuple[type[RecoveryError], int], ...] = (
    (PolicyError, 422),
    (AccountRejected, 422),
    (AccountConflict, 409),
    (InvalidReportQuery, 422),
    (ExperimentError, 422),
    (InvalidEndpoint, 422),
    (NotFound, 404),
    (NotAuthenticated, 401),
    (ScopeMissing, 403),
    (FormRejected, 403),
    (GatewayUnavailable, 503),
    (DeliveryUnavailable, 503),
    (ConfigurationError, 503),
)
LINK_STATUS = {"invalid": 400, "expired": 410, "used": 410}


class FieldErrorOut(BaseModel):
    loc: list[str | int]  # where in the request: ["body", "segments", 0, "match"]
    msg: str


class ErrorOut(BaseModel):
    """Every JSON API error: a message, and for invalid input each wrong field."""

    error: str
    field_errors: list[FieldErrorOut] | None = None


# Documented on every authenticated JSON router (``APIRouter(responses=ERROR_RESPONSES)``), so the
# OpenAPI document describes the errors a client will meet, with their schema.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "No API token, or an unknown or revoked one"},
    403: {"model": ErrorOut, "description": "The token lacks the scope this request needs"},
    404: {"model": ErrorOut, "description": "Not found (another account's objects included)"},
    422: {"model": ErrorOut, "description": "Invalid input: every wrong field is named"},
}


def status_for(error: RecoveryError) -> int:
    if isinstance(error, LinkRejected):
        return LINK_STATUS[error.reason]
    for error_class, status in STATUS_BY_ERROR:
        if isinstance(error, error_class):
            return status
    return 500


def install_error_handlers(app: FastAPI) -> None:
    """JSON answers for errors a route lets through: ``{"error": <message>}``, with
    ``field_errors`` for invalid input (a policy, or a request FastAPI could not read)."""

    @app.exception_handler(RecoveryError)
    async def recovery_error(_request: Request, error: RecoveryError) -> JSONResponse:
        status = status_for(error)
        if status >= 500:
            log.error("request failed", extra={"error": f"{type(error).__name__}: {error}"})
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        answer = ErrorOut(error=str(error), field_errors=_field_errors(error))
        return JSONResponse(answer.model_dump(exclude_none=True), status_code=status,
                            headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, error: RequestValidationError) -> JSONResponse:
        fields = [FieldErrorOut(loc=[str(part) if not isinstance(part, int) else part
                                     for part in problem.get("loc", ())],
                                msg=str(problem.get("msg", "invalid")))
                  for problem in error.errors()]
        answer = ErrorOut(error="the request is invalid", field_errors=fields)
        return JSONResponse(answer.model_dump(), status_code=422)


def _field_errors(error: RecoveryError) -> list[FieldErrorOut] | None:
    """A policy's wrong fields, located like FastAPI's own: in the request body that carried
    the policy document (``["body", "segments", 0, "match", "amount_min"]``)."""
    found = error.field_errors if isinstance(error, PolicyError) else None
    if not found:
        return None
    return [FieldErrorOut(loc=["body", *item["loc"]], msg=item["msg"]) for item in found]
