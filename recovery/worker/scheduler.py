"""The only user of APScheduler: ticks each job of ``jobs.py`` on an interval, in this process.

Each worker process has its own in-memory scheduler (a job store must never be shared between
processes); the jobs claim work from the database, which makes several workers safe.
"""

from __future__ import annotations

import logging

from apscheduler.schedulers.background import BackgroundScheduler

from recovery.wiring import Services
from recovery.worker.jobs import JobSpec, job_specs

log = logging.getLogger("recovery.scheduler")


def _guarded(spec: JobSpec, services: Services):
    def run() -> None:
        try:
            spec.run(services)
        except Exception:  # noqa: BLE001 - a failing tick must not stop the next one
            log.exception("job failed", extra={"job": spec.name})

    return run


def start_scheduler(services: Services, specs: list[JobSpec] | None = None) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(timezone="UTC")
    for spec in specs or job_specs(services.settings.tick_seconds):
        scheduler.add_job(
            _guarded(spec, services), "interval", seconds=spec.every_seconds, id=spec.name,
            max_instances=1, coalesce=True, misfire_grace_time=None, replace_existing=True,
        )
    scheduler.start()
    log.info("worker started", extra={"jobs": [s.name for s in specs or job_specs(1)]})
    return scheduler
