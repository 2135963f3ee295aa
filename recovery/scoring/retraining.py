"""Retraining each smart-timing account's scorer from its own attempt log.

The worker runs this on a schedule (``retrain_every_hours``, nightly by default) and the sandbox
runs the same function on its virtual clock, so a smart policy learns from the warm-up exactly as
it would in production. Each account is trained in its own transaction: a failure is logged and
the others still train; the promotion rule (``ml.promotion``) decides whether the new version
replaces the active one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from ml.promotion import TrainingOutcome, train_and_maybe_promote
from recovery.runtime.clock import Clock
from recovery.runtime.db import SessionFactory, transaction

log = logging.getLogger("recovery.scoring")


def retrain_accounts(sessions: SessionFactory, clock: Clock, account_ids: Iterable[str], *,
                     min_attempts: int) -> list[TrainingOutcome]:
    """Train (and maybe promote) a new version for each account; returns what happened."""
    outcomes = []
    for account_id in account_ids:
        try:
            with transaction(sessions) as session:
                outcome = train_and_maybe_promote(session, account_id, now=clock.now(),
                                                  min_attempts=min_attempts)
        except Exception:  # noqa: BLE001 - one account's failure must not stop the others
            log.exception("retraining failed", extra={"account": account_id})
            continue
        log.info("retrained", extra={"account": account_id, "samples": outcome.samples,
                                     "promoted": outcome.promoted, "reason": outcome.reason,
                                     "version": outcome.version})
        outcomes.append(outcome)
    return outcomes
