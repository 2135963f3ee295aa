"""The only user of APScheduler: ticks each job of ``jobs.py`` on an interval, in this process.

Each worker process has its own in-memory scheduler (a job store must never be shared between
processes); the jobs claim work from the database, which makes several workers safe.
Stopping is bounded: running jobs finish the batch in hand, then this worker's claims go back to
the queue, so a restart or another worker picks them up at once rather than after the lease.
"""

from __future__ import annotations

import logging
import threading
import time

from apscheduler.schedulers.background import BackgroundScheduler

from recovery.wiring import Services
from recovery.worker.jobs import JobSpec, job_specs, release_own_claims
from recovery.worker.yielding import ReceiverYield

log = logging.getLogger("recovery.scheduler")

# A hand-back that failed (the database busy, a dropped connection) is tried again, briefly.
RELEASE_ATTEMPTS = 3
RELEASE_RETRY_SECONDS = 0.2


def _guarded(spec: JobSpec, services: Services, receiver_yield: ReceiverYield | None):
    def run() -> None:
        if receiver_yield is not None and receiver_yield.defer(spec.name):
            return  # a webhook burst: this tick is skipped (the next one asks again)
        try:
            spec.run(services)
        except Exception:  # noqa: BLE001 - a failing tick must not stop the next one
            log.exception("job failed", extra={"job": spec.name})

    return run


def start_scheduler(services: Services, specs: list[JobSpec] | None = None, *,
                    receiver_yield: ReceiverYield | None = None) -> BackgroundScheduler:
    """Tick every job in background threads; with ``receiver_yield`` the jobs give way to
    bursts of webhooks (and ``services.give_way`` cuts their drains short meanwhile)."""
    if receiver_yield is not None:
        services.give_way = receiver_yield.busy
    scheduler = BackgroundScheduler(timezone="UTC")
    for spec in specs or job_specs(services.settings.tick_seconds,
                                    services.settings.retrain_every_hours):
        scheduler.add_job(
            _guarded(spec, services, receiver_yield), "interval", seconds=spec.every_seconds,
            id=spec.name, max_instances=1, coalesce=True, misfire_grace_time=None,
            replace_existing=True,
        )
    scheduler.start()
    log.info("worker started", extra={"jobs": [s.name for s in specs or job_specs(1)]})
    return scheduler


def stop_scheduler(scheduler: BackgroundScheduler, services: Services, *,
                   timeout: float = 7.0) -> bool:
    """Stop ticking and hand back this worker's claims; True when every running job ended
    within ``timeout`` seconds. A job still running then (a call that hangs) is left behind:
    its claims are handed back all the same, and its later writes to actions are fenced out."""
    services.stopping.set()
    waiting = threading.Thread(target=scheduler.shutdown, kwargs={"wait": True},
                               name="scheduler-stop", daemon=True)
    waiting.start()
    waiting.join(timeout)
    finished = not waiting.is_alive()
    if not finished:
        log.warning("worker jobs still running at the stop deadline",
                    extra={"timeout_seconds": timeout})
    # Handed back even when a job is still running: its later writes are fenced out.
    for attempt in range(1, RELEASE_ATTEMPTS + 1):
        try:
            released = release_own_claims(services)
            break
        except Exception:  # noqa: BLE001 - the leases hand them back later
            if attempt == RELEASE_ATTEMPTS:
                log.exception("could not hand back this worker's claims; their leases will")
                return finished
            log.warning("handing back this worker's claims failed; trying again", exc_info=True)
            time.sleep(RELEASE_RETRY_SECONDS)
    log.info("worker stopped", extra={"claims_released": released})
    return finished
