"""Filling in the decline details a failure was recorded without.

When Stripe cannot be read while a failed invoice's event is ingested, the engine opens the case
without the decline details and marks the attempt ``details_pending`` rather than holding the
event back. This job reads them later, outside any transaction, and hands them to the engine,
which records them and plans the case again. While Stripe still cannot be read the job stops
and tries again on its next run; a read Stripe refuses leaves the attempt without details.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Protocol

from sqlalchemy import func, select
from sqlmodel import Session

from models import ChargeAttempt
from recovery.errors import GatewayError
from recovery.ingest.retries import STRIPE_TROUBLE
from recovery.runtime.db import SessionFactory, transaction

log = logging.getLogger("recovery.ingest")
_STILL_UNREADABLE = object()  # Stripe trouble: stop for this run
_BROKEN = object()  # an unexpected error on this attempt: skip it this run


class DetailsEngine(Protocol):
    """The engine's two calls this job makes."""

    def read_attempt_details(self, account_id: str, invoice_id: str | None, at: datetime,
                             charge_id: str | None = None) -> object: ...

    def fill_pending_details(self, session: Session, attempt_id: int, details) -> None: ...


def pending_attempts(sessions: SessionFactory, limit: int) -> list:
    """Up to ``limit`` attempts still waiting for their details, oldest first."""
    with sessions() as session:
        return list(session.execute(
            select(ChargeAttempt.id, ChargeAttempt.account_id, ChargeAttempt.stripe_invoice_id,
                   ChargeAttempt.attempted_at, ChargeAttempt.stripe_charge_id)
            .where(ChargeAttempt.details_pending.is_(True))
            .order_by(ChargeAttempt.id).limit(limit)))


def count_pending(sessions: SessionFactory) -> int:
    with sessions() as session:
        return session.execute(select(func.count()).select_from(ChargeAttempt)
                               .where(ChargeAttempt.details_pending.is_(True))).scalar_one()


def refresh_decline_details(sessions: SessionFactory, engine: DetailsEngine, *,
                            limit: int = 100) -> int:
    """Read and record the details of up to ``limit`` waiting attempts; returns how many were
    settled (filled in, or found to have none)."""
    settled = 0
    for attempt in pending_attempts(sessions, limit):
        outcome = _read(engine, attempt)
        if outcome is _STILL_UNREADABLE:
            break  # Stripe is still down or refusing the key: no point asking for the rest
        if outcome is _BROKEN:
            continue
        with transaction(sessions) as session:
            engine.fill_pending_details(session, attempt.id, outcome)
        settled += 1
    return settled


def _read(engine: DetailsEngine, attempt) -> object:
    """The attempt's details from Stripe, None when Stripe refuses to say, or a marker."""
    try:
        return engine.read_attempt_details(attempt.account_id, attempt.stripe_invoice_id,
                                           attempt.attempted_at, attempt.stripe_charge_id)
    except STRIPE_TROUBLE:
        log.info("Stripe still unreadable; decline details wait for the next run",
                 extra={"attempt": attempt.id})
        return _STILL_UNREADABLE
    except GatewayError as problem:
        log.warning("Stripe refused the read; the failure keeps no decline details",
                    extra={"attempt": attempt.id, "error": str(problem)[:200]})
        return None
    except Exception:  # noqa: BLE001 - one broken attempt must not stop the others
        log.exception("reading decline details failed", extra={"attempt": attempt.id})
        return _BROKEN
