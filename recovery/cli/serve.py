"""``recovery migrate``, ``serve`` and ``worker``: the commands that run the engine."""

from __future__ import annotations

import signal
import threading

import typer
from pydantic import SecretStr

from recovery.accounts.directory import ensure_default_account
from recovery.cli.common import console, load_settings
from recovery.runtime import migrations
from recovery.runtime.settings import Settings
from recovery.wiring import build_services


def migrate(revision: str = typer.Argument("head", help="Target revision (or 'base' to go down)."),
            down: bool = typer.Option(False, "--down", help="Downgrade to the revision.")) -> None:
    """Apply (or revert) database migrations."""
    settings = load_settings()
    (migrations.downgrade if down else migrations.upgrade)(settings.database_url, revision)
    console.print(f"database at {'revision ' + revision if down else 'head'}")


def serve(worker: bool = typer.Option(None, "--worker/--no-worker",
                                      help="Run the worker in-process (default: on).")) -> None:
    """Serve the API and webhook receiver (and the worker, in-process)."""
    import uvicorn  # noqa: PLC0415 - only this command needs the server

    from recovery.app import create_app  # noqa: PLC0415

    settings = load_settings()
    if settings.sandbox:
        services, background = _sandbox_services(settings)
    else:
        services, background = build_services(settings), []
    web_app = create_app(services, run_worker=worker, background=background)
    uvicorn.run(web_app, host=settings.host, port=settings.port, log_config=None)


def _sandbox_services(settings: Settings):
    """No Stripe key: a simulated account on a fast clock stands in for Stripe."""
    from recovery.runtime.clock import ScaledClock, SystemClock  # noqa: PLC0415
    from recovery.sandbox.live import SANDBOX_SECRET, LiveSandbox  # noqa: PLC0415

    if not settings.webhook_secrets:
        settings = settings.model_copy(update={"stripe_webhook_secrets": SecretStr(SANDBOX_SECRET)})
    clock = ScaledClock(SystemClock().now(), speed=86400 / settings.sandbox_seconds_per_day)
    services = build_services(settings, clock)
    ensure_default_account(services.sessions, settings, clock)
    url = f"http://{settings.host}:{settings.port}/webhooks/stripe"
    live = LiveSandbox(services, url, subscribers=settings.sandbox_subscribers,
                       world=settings.sandbox_world)
    return services, [live]

def run_worker() -> None:
    """Run the scheduler ticks (ingest, due actions) until interrupted. Several may run at once."""
    from recovery.worker.scheduler import start_scheduler  # noqa: PLC0415

    settings = load_settings()
    services = build_services(settings)
    ensure_default_account(services.sessions, settings, services.clock)
    scheduler = start_scheduler(services)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        scheduler.shutdown(wait=True)
