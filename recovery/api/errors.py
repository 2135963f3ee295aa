"""The one place the error tree becomes HTTP status codes (JSON routers and HTML pages alike).

Bad input answers a 4xx with a clear message, never a 500: a policy or a report query a user
gave (422), a thing that does not exist (404), a link that cannot be used (400 invalid, 410
expired or used).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from recovery.errors import (
    ConfigurationError,
    DeliveryUnavailable,
    GatewayUnavailable,
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
    (InvalidReportQuery, 422),
    (NotFound, 404),
    (NotAuthenticated, 401),
    (ScopeMissing, 403),
    (GatewayUnavailable, 503),
    (DeliveryUnavailable, 503),
    (ConfigurationError, 503),
)
LINK_STATUS = {"invalid": 400, "expired": 410, "used": 410}


def status_for(error: RecoveryError) -> int:
    if isinstance(error, LinkRejected):
        return LINK_STATUS[error.reason]
    for error_class, status in STATUS_BY_ERROR:
        if isinstance(error, error_class):
            return status
    return 500


def install_error_handlers(app: FastAPI) -> None:
    """JSON answers for errors a route lets through: ``{"error": <message>}``."""

    @app.exception_handler(RecoveryError)
    async def recovery_error(_request: Request, error: RecoveryError) -> JSONResponse:
        status = status_for(error)
        if status >= 500:
            log.error("request failed", extra={"error": f"{type(error).__name__}: {error}"})
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse({"error": str(error)}, status_code=status, headers=headers)
