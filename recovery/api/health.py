"""``GET /healthz``: the database answers and the inbox is not falling behind.

503 when the oldest pending event, or the oldest thin event waiting for its snapshot, is older
than the threshold (real seconds, also in the fast-running live sandbox). Failed events (kept for
re-drive) are reported, not judged: they need a person, not a restart.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from recovery.ingest.decline_details import count_pending
from recovery.ingest.inbox import inbox_stats
from recovery.wiring import Services
from webhooks.router import ReceiverStats

log = logging.getLogger("recovery.health")


def build_health_router(services: Services, receiver_stats: ReceiverStats) -> APIRouter:
    router = APIRouter()
    threshold = services.settings.healthz_max_pending_age_seconds

    @router.get("/healthz")
    def healthz() -> JSONResponse:
        try:
            with services.sessions() as session:
                session.execute(text("SELECT 1"))
            stats = inbox_stats(services.sessions, services.clock)
            details_pending = count_pending(services.sessions)
        except SQLAlchemyError as problem:
            log.error("health check: database unreachable", extra={"error": str(problem)[:200]})
            return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503)
        age, thin_age = stats["oldest_pending_age_seconds"], stats["oldest_thin_event_age_seconds"]
        healthy = age <= threshold and thin_age <= threshold
        body = {
            "status": "ok" if healthy else "degraded",
            "database": "ok",
            "inbox": stats["counts"],
            "failed_events": stats["failed"],
            "thin_events_waiting": stats["thin_events_waiting"],
            "decline_details_pending": details_pending,
            "oldest_pending_age_seconds": round(age, 3),
            "oldest_thin_event_age_seconds": round(thin_age, 3),
            "max_pending_age_seconds": threshold,
            "webhooks": receiver_stats.snapshot(),
            "sandbox": services.settings.sandbox,
        }
        return JSONResponse(body, status_code=200 if healthy else 503)

    return router
