"""``recovery migrate``, ``serve`` and ``worker``: the commands that run the engine."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from functools import partial

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


# After SIGTERM, requests in flight get this long to finish before their connections close;
# with the worker's own deadline, the server is gone within 10 s even under load.
GRACEFUL_SHUTDOWN_SECONDS = 5
# How often the event loop's thread offers the interpreter lock to the receiver's writer thread.
RECEIVER_SWITCH_INTERVAL_SECONDS = 0.0005
# The worker's deadline for jobs in hand, after which it hands back its claims and exits anyway
# (under ``serve`` the server kills it 7.5 s after the signal, and hands them back itself).
WORKER_STOP_SECONDS = 6.0
# How often a worker started by ``serve`` checks that its server is still there.
PARENT_CHECK_SECONDS = 1.0


def serve(worker: bool = typer.Option(None, "--worker/--no-worker",
                                      help="Run the worker too (default: on).")) -> None:
    """Serve the API and webhook receiver (and the worker, as a child process)."""
    settings = load_settings()
    run_web_app(build_web_app(settings, worker=worker), settings)


def build_web_app(settings: Settings, *, worker: bool | None):
    """The application ``recovery serve`` runs (the benchmarks run it too). The worker runs in
    a child process (``recovery worker``), off the request path; in the sandbox it stays in
    this process, where the simulated Stripe it talks to lives."""
    from recovery.app import create_app  # noqa: PLC0415 - only the server needs the web app
    from recovery.worker.jobs import release_claims_held_by  # noqa: PLC0415
    from recovery.worker.process import WorkerProcess  # noqa: PLC0415

    run_worker = settings.run_worker if worker is None else worker
    if settings.sandbox:
        services, live = _sandbox_services(settings)
        return create_app(services, run_worker=run_worker, background=[live],
                          sandbox_state=live.state)
    services = build_services(settings)
    background = [WorkerProcess(niceness=settings.worker_niceness,
                                release_claims=partial(release_claims_held_by, services.sessions))
                  ] if run_worker else []
    return create_app(services, run_worker=False, background=background)


def run_web_app(web_app, settings: Settings) -> None:
    """Serve ``web_app`` with uvicorn as ``recovery serve`` does, until SIGTERM or Ctrl-C."""
    import gc  # noqa: PLC0415 - only the server tunes the collector

    import uvicorn  # noqa: PLC0415 - only this command needs the server

    class StoppingServer(uvicorn.Server):
        """Tells the app to stop its worker at the signal, not after the connections drain."""

        def handle_exit(self, sig, frame) -> None:
            web_app.state.request_stop()
            super().handle_exit(sig, frame)

    config = uvicorn.Config(web_app, host=settings.host, port=settings.port, log_config=None,
                            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS)
    # Everything loaded so far lives as long as the process: out of the collector's way, a full
    # collection no longer walks it (those walks were the receiver's slowest requests).
    gc.freeze()
    # The receiver's writer thread needs the interpreter lock back after each database call,
    # and a busy event loop gives it up only every switch interval (5 ms by default): requests
    # waited on those handovers more than on the database.
    sys.setswitchinterval(RECEIVER_SWITCH_INTERVAL_SECONDS)
    StoppingServer(config).run()


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
    return services, live


def run_worker(parent_pid: int = typer.Option(
        None, "--parent-pid", hidden=True,
        help="Stop when this process (the server that started the worker) is gone.")) -> None:
    """Run the scheduler ticks (ingest, due actions) until interrupted. Several may run at once."""
    from recovery.ingest.inbox import inbox_high_water  # noqa: PLC0415
    from recovery.worker.scheduler import start_scheduler, stop_scheduler  # noqa: PLC0415
    from recovery.worker.yielding import ReceiverYield  # noqa: PLC0415

    stop = threading.Event()
    # Set first: a SIGTERM that comes while the worker is still starting stops it all the same.
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, lambda *_: stop.set())
    settings = load_settings()
    services = build_services(settings)
    ensure_default_account(services.sessions, settings, services.clock)
    if stop.is_set():
        services.close()
        return
    receiver_yield = ReceiverYield(
        partial(inbox_high_water, services.sessions),
        busy_per_second=settings.worker_yield_above_per_second,
        max_deferral_seconds=settings.worker_max_deferral_seconds)
    scheduler = start_scheduler(services, receiver_yield=receiver_yield)
    while not stop.wait(PARENT_CHECK_SECONDS):
        if parent_pid is not None and os.getppid() != parent_pid:
            # The server was killed before it could stop this worker: an orphan would go on
            # claiming work nobody supervises.
            logging.getLogger("recovery.worker").warning(
                "the server that started this worker is gone; stopping",
                extra={"parent_pid": parent_pid})
            break
    finished = stop_scheduler(scheduler, services, timeout=WORKER_STOP_SECONDS)
    services.close()
    if not finished:
        # A job thread still stuck in a call would keep the interpreter from exiting.
        logging.shutdown()
        os._exit(1)
