"""Retraining each smart-timing account's scorer from its own attempt log.

The worker runs this on a schedule (``retrain_every_hours``, nightly by default) and the sandbox
runs the same code on its virtual clock, so a smart policy learns from the warm-up exactly as it
would in production. An account is trained again only when its attempt log has grown by
``GROWTH`` since the last training (a night with a handful of new attempts teaches nothing and
would cost a full rebuild). Each account trains in its own transaction: a failure is logged and
the others still train; the promotion rule (``ml.promotion``) decides whether the new version
replaces the active one, and only promoted versions are stored.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from models import ChargeAttempt
from recovery.runtime.clock import Clock
from recovery.runtime.db import SessionFactory, transaction

if TYPE_CHECKING:
    from ml.promotion import TrainingOutcome

log = logging.getLogger("recovery.scoring")
GROWTH = 0.1  # retrain once the attempt log is 10% larger than at the last training


class Retrainer:
    """Remembers how large each account's log was when it last trained (per process: after a
    restart every account trains once more)."""

    def __init__(self, *, min_attempts: int, growth: float = GROWTH) -> None:
        self.min_attempts = min_attempts
        self.growth = growth
        self._trained_at_size: dict[str, int] = {}

    def retrain(self, sessions: SessionFactory, clock: Clock,
                account_ids: Iterable[str]) -> list[TrainingOutcome]:
        """Train (and maybe promote) a new version for each account whose log grew enough."""
        # Imported here: scikit-learn is only needed once an account trains.
        from ml.promotion import train_and_maybe_promote  # noqa: PLC0415

        outcomes = []
        for account_id in account_ids:
            size = _attempts(sessions, account_id)
            last = self._trained_at_size.get(account_id)
            if size < self.min_attempts or (last is not None and size < last * (1 + self.growth)):
                continue
            try:
                with transaction(sessions) as session:
                    outcome = train_and_maybe_promote(
                        session, account_id, now=clock.now(), min_attempts=self.min_attempts,
                        keep_rejected=False)
            except Exception:  # noqa: BLE001 - one account's failure must not stop the others
                log.exception("retraining failed", extra={"account": account_id})
                continue
            self._trained_at_size[account_id] = size
            log.info("retrained", extra={"account": account_id, "samples": outcome.samples,
                                         "promoted": outcome.promoted, "reason": outcome.reason,
                                         "version": outcome.version})
            outcomes.append(outcome)
        return outcomes


def _attempts(sessions: SessionFactory, account_id: str) -> int:
    with sessions() as session:
        return int(session.execute(select(func.count()).select_from(ChargeAttempt).where(
            ChargeAttempt.account_id == account_id)).scalar_one())
