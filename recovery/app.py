"""The FastAPI application: webhook receiver, health and API routers, and the in-process worker.

Stopping: ``app.state.request_stop()`` (called by ``recovery serve`` as soon as it is told to
stop) tells the worker and the background tasks to wind down while the server drains its
connections; the lifespan's end then writes what the receiver still holds and waits for them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from recovery.accounts.directory import ensure_default_account
from recovery.api.account import build_account_router
from recovery.api.accounts import build_accounts_router
from recovery.api.cases import build_cases_router
from recovery.api.errors import install_error_handlers
from recovery.api.experiments import build_experiments_router
from recovery.api.health import build_health_router
from recovery.api.links import build_links_router
from recovery.api.metrics import build_metrics_router
from recovery.api.policies import build_policies_router
from recovery.api.webhook_endpoints import build_webhook_endpoints_router
from recovery.dashboard.router import build_dashboard_router
from recovery.runtime.clock import wall_clock
from recovery.wiring import Services
from recovery.worker.scheduler import start_scheduler, stop_scheduler
from webhooks.inbox_writer import InboxWriter
from webhooks.router import ReceiverStats, ServeBeforeRouting, StripeWebhookEndpoint, build_router


def create_app(services: Services, *, run_worker: bool | None = None,
               background: list | None = None,
               sandbox_state: Callable[[], Mapping[str, Any]] | None = None) -> FastAPI:
    """``background``: objects with ``start_thread()`` and ``stop()`` (and optionally
    ``request_stop()``) run for the app's life (the live sandbox, the worker process).
    ``sandbox_state``: the live sandbox's state, for the dashboard's sandbox page."""
    settings = services.settings
    run_worker = settings.run_worker if run_worker is None else run_worker
    receiver_stats = ReceiverStats()
    inbox_writer = InboxWriter(services.sessions, services.clock)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        ensure_default_account(services.sessions, settings, services.clock)
        # Loaded before the first request, so that the receiver never waits on the database.
        services.accounts.refresh()
        scheduler = start_scheduler(services) if run_worker else None
        for task in background or ():
            task.start_thread()
        try:
            yield
        finally:
            # The server has drained its connections: what is still queued is written now.
            inbox_writer.stop()
            for task in background or ():
                task.stop()
            if scheduler is not None:
                stop_scheduler(scheduler, services)

    def request_stop() -> None:
        services.stopping.set()
        for task in background or ():
            if hasattr(task, "request_stop"):
                task.request_stop()

    app = FastAPI(title="Payment recovery engine", lifespan=lifespan)
    app.state.services = services
    app.state.request_stop = request_stop
    app.state.receiver_stats = receiver_stats
    receiver = StripeWebhookEndpoint(
        services.sessions, services.accounts.secrets_for, services.accounts.resolve_account,
        services.clock, tolerance_seconds=settings.webhook_tolerance_seconds,
        max_body_bytes=settings.webhook_max_body_bytes, stats=receiver_stats,
        writer=inbox_writer,
        # A signature's age is real time, also when the live sandbox runs its clock fast.
        signature_clock=wall_clock(services.clock),
    )
    # The route documents the receiver (OpenAPI); the middleware serves it ahead of routing and
    # of the framework's request handling, which cost as much as the receiver's own work.
    app.include_router(build_router(receiver))
    app.add_middleware(ServeBeforeRouting, endpoint=receiver)
    app.include_router(build_health_router(services, receiver_stats))
    app.include_router(build_account_router(services))
    app.include_router(build_webhook_endpoints_router(services))
    app.include_router(build_accounts_router(services))
    app.include_router(build_policies_router(services))
    app.include_router(build_cases_router(services))
    app.include_router(build_metrics_router(services))
    app.include_router(build_experiments_router(services))
    if services.link_signer is not None:
        # Like the webhook router, it gets what it needs passed in: sessions, the signer, the
        # function that applies an accepted offer and the one that opens the billing portal.
        app.include_router(build_links_router(services.sessions, services.link_signer,
                                              services.clock, services.accept_offer,
                                              services.card_update_page))
    app.include_router(build_dashboard_router(services, sandbox_state))
    install_error_handlers(app)
    return app
