"""History backfill runs: an account's invoices of the last N days, read from Stripe page by
page and imported one at a time (``history_import``), with the run's progress in ``backfill_run``.

Stripe is read outside any transaction. Each invoice is then imported in its own transaction,
which also moves the run's cursor to it, so an interruption (Stripe unavailable, the operator's
Ctrl-C, a crash) leaves the cursor at the last invoice fully imported, and the next run for the
account and window length resumes after it without asking again for the pages already done. A
finished run is not resumed: the next one reads the whole window again and, every write being
keyed, changes nothing already there. Run one backfill per account at a time.

A backfill opens no live case, schedules no action and charges nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlmodel import Session, select

from models import Account, BackfillRun, BackfillStatus
from recovery.engine.history_import import InvoiceImport, import_past_invoice
from recovery.errors import NotFound
from recovery.runtime.clock import Clock
from recovery.runtime.db import SessionFactory, transaction
from recovery.runtime.logs import mask_secrets
from recovery.stripe_api.history import InvoicePage, PastAttempt, PastInvoice

log = logging.getLogger("recovery.engine")
MAX_ERROR = 500


class HistorySource(Protocol):
    """The gateway's history reads (``recovery.stripe_api.gateway.StripeGateway``)."""

    def invoice_history(self, since: datetime, *, starting_after: str | None = None,
                        stripe_account: str | None = None) -> Iterator[InvoicePage]: ...

    def invoice_attempts(self, invoice_id: str, *,
                         stripe_account: str | None = None) -> tuple[PastAttempt, ...]: ...


@dataclass(frozen=True)
class BackfillState:
    """A run as it stands after its last committed step."""

    run_id: int
    account_id: str
    window_start: datetime
    started_at: datetime
    status: str
    cursor: str | None
    reached_at: datetime | None
    invoices: int
    attempts: int
    cases: int
    skipped: int
    resumed: bool = False

    @property
    def covered(self) -> float:
        """The share of the window read so far (Stripe lists newest first)."""
        if self.status == BackfillStatus.finished.value:
            return 1.0
        if self.reached_at is None:
            return 0.0
        span = (self.started_at - self.window_start).total_seconds()
        done = (self.started_at - self.reached_at).total_seconds()
        return min(1.0, max(0.0, done / span)) if span > 0 else 1.0


def backfill_account(sessions: SessionFactory, source: HistorySource, clock: Clock,
                     account_id: str, *, days: int, stripe_account: str | None = None,
                     on_progress: Callable[[BackfillState], None] | None = None) -> BackfillState:
    """Import ``account_id``'s invoices created in the last ``days`` days (acting on Stripe as
    ``stripe_account``), resuming the account's unfinished run of the same length if there is
    one. Raises ``NotFound`` for an unknown account; any error from Stripe (or Ctrl-C) stops the
    run, which is marked interrupted before the error goes on."""
    if days < 1:
        raise ValueError("days must be at least 1")
    report = on_progress or (lambda _state: None)
    state = _start(sessions, clock, account_id, days)
    report(state)
    try:
        pages = source.invoice_history(state.window_start, starting_after=state.cursor,
                                       stripe_account=stripe_account)
        for page in pages:
            for invoice in page.invoices:
                attempts = _attempts_of(source, invoice, stripe_account)
                state = _import(sessions, clock, state, invoice, attempts)
                report(state)
    except BaseException as error:
        _interrupt(sessions, clock, state.run_id, error)
        raise
    state = _finish(sessions, clock, state)
    report(state)
    return state


def _attempts_of(source: HistorySource, invoice: PastInvoice,
                 stripe_account: str | None) -> tuple[PastAttempt, ...]:
    # A draft or an invoice Stripe never tried to collect has no charges: no request for them.
    if invoice.status == "draft" or not invoice.attempted:
        return ()
    return source.invoice_attempts(invoice.id, stripe_account=stripe_account)


def _start(sessions: SessionFactory, clock: Clock, account_id: str, days: int) -> BackfillState:
    now = clock.now()
    with transaction(sessions) as session:
        if session.get(Account, account_id) is None:
            raise NotFound(f"no account {account_id!r}")
        run = _latest_run(session, account_id)
        resumed = run is not None and run.status != BackfillStatus.finished.value \
            and run.days == days
        if resumed:
            run.status, run.error, run.updated_at = BackfillStatus.running.value, None, now
        else:
            run = BackfillRun(account_id=account_id, window_start=now - timedelta(days=days),
                              days=days, started_at=now, updated_at=now)
            session.add(run)
        session.flush()
        state = _state_of(run, resumed=resumed)
    log.info("backfill resumed" if resumed else "backfill started",
             extra={"account": account_id, "run": state.run_id, "cursor": state.cursor,
                    "window_start": state.window_start.isoformat()})
    return state


def _latest_run(session: Session, account_id: str) -> BackfillRun | None:
    return session.exec(
        select(BackfillRun).where(BackfillRun.account_id == account_id)
        .order_by(BackfillRun.started_at.desc(), BackfillRun.id.desc())).first()


def _import(sessions: SessionFactory, clock: Clock, state: BackfillState, invoice: PastInvoice,
            attempts: tuple[PastAttempt, ...]) -> BackfillState:
    """One invoice and the cursor moved past it, in one transaction."""
    with transaction(sessions) as session:
        result = import_past_invoice(session, state.account_id, invoice, attempts, clock)
        run = session.get(BackfillRun, state.run_id, with_for_update=True)
        _count(run, result)
        run.cursor, run.reached_at, run.updated_at = invoice.id, invoice.created, clock.now()
        return _state_of(run, resumed=state.resumed)


def _count(run: BackfillRun, result: InvoiceImport) -> None:
    run.invoices += 1
    run.attempts += result.attempts
    run.cases += int(result.case)
    run.skipped += int(not result.changed)


def _finish(sessions: SessionFactory, clock: Clock, state: BackfillState) -> BackfillState:
    with transaction(sessions) as session:
        run = session.get(BackfillRun, state.run_id, with_for_update=True)
        run.status = BackfillStatus.finished.value
        run.finished_at = run.updated_at = clock.now()
        finished = _state_of(run, resumed=state.resumed)
    log.info("backfill finished", extra={
        "account": state.account_id, "run": state.run_id, "invoices": finished.invoices,
        "attempts": finished.attempts, "cases": finished.cases, "skipped": finished.skipped})
    return finished


def _interrupt(sessions: SessionFactory, clock: Clock, run_id: int, error: BaseException) -> None:
    """Mark the run interrupted; its cursor already names the last invoice fully imported."""
    reason = describe_interruption(error)
    try:
        with transaction(sessions) as session:
            run = session.get(BackfillRun, run_id, with_for_update=True)
            run.status, run.error, run.updated_at = (BackfillStatus.interrupted.value, reason,
                                                     clock.now())
    except Exception:  # noqa: BLE001 - the run stays "running", which resumes all the same
        log.exception("could not mark the backfill interrupted", extra={"run": run_id})
    log.warning("backfill interrupted", extra={"run": run_id, "reason": reason})


def describe_interruption(error: BaseException) -> str:
    """Why a run stopped, fit to store and show: no API key, at most ``MAX_ERROR`` characters."""
    if isinstance(error, KeyboardInterrupt):
        return "stopped by the operator"
    # A key that found its way into an error message is masked, as in the logs.
    return mask_secrets(f"{type(error).__name__}: {error}")[:MAX_ERROR]


def _state_of(run: BackfillRun, *, resumed: bool) -> BackfillState:
    return BackfillState(
        run_id=run.id, account_id=run.account_id, window_start=run.window_start,
        started_at=run.started_at, status=run.status, cursor=run.cursor,
        reached_at=run.reached_at, invoices=run.invoices, attempts=run.attempts,
        cases=run.cases, skipped=run.skipped, resumed=resumed)
