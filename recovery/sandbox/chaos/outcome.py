"""One chaos (or calm) run from start to end, and what it proves: nothing lost, nothing charged
twice, no network rule broken, and the recovery rate it reached.

Lost is judged at the end, after the drain: an event Stripe sent that the inbox never stored or
never processed, an action scheduled before the horizon that never ran nor was closed, a message
the engine recorded whose id never reached the World. Charges are judged on the fake Stripe's
own audit, not on the engine's records (which it is compared with).
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from models import (
    ActionStatus,
    InboxStatus,
    Message,
    ScheduledAction,
    WebhookEvent,
)
from recovery.rules.policy import RetryPolicy
from recovery.sandbox.chaos.audit import audit_charges, engine_attempts
from recovery.sandbox.chaos.plan import API_FAULTS, ChaosPlan
from recovery.sandbox.chaos.run import ChaosSandbox, horizon_of
from recovery.sandbox.metrics import RECOVERY_SPAN, measure
from recovery.sandbox.run import SimulationConfig, temporary_workdir

DONE_EVENTS = (InboxStatus.processed.value, InboxStatus.ignored.value)
OPEN_ACTIONS = (ActionStatus.scheduled.value, ActionStatus.claimed.value)


@dataclass
class ChaosOutcome:
    label: str
    database: str
    workers: int
    events_sent: int = 0
    deliveries: int = 0
    events_stored: int = 0
    events_processed: int = 0
    events_lost: int = 0  # sent by Stripe, never stored
    events_unprocessed: int = 0  # stored, never processed
    max_paid_charges_per_invoice: int = 0
    charges_of_closed_invoices: int = 0  # paid, void or uncollectible when charged
    charges_of_canceled_subscriptions: int = 0
    network_breaches: int = 0  # by the engine's own charges
    stripe_breaches: int = 0  # by Stripe's renewal attempts, which the engine does not decide
    ledger_mismatches: int = 0  # charges the engine's records and Stripe's audit disagree on
    actions_lost: int = 0
    actions_failed: int = 0  # gave up after their tries: closed, but worth seeing
    messages_lost: int = 0
    failed_invoices: int = 0
    recovered: int = 0
    recovery_rate: float = 0.0  # from the engine's cases, as ``recovery simulate`` counts it
    ledger_failed_invoices: int = 0
    ledger_recovered: int = 0
    ledger_recovery_rate: float = 0.0  # the same measure, from Stripe's own charge audit
    worker_deaths: int = 0
    connection_drops: int = 0
    api_faults: dict[str, int] = field(default_factory=dict)
    webhook_chaos: dict[str, int] = field(default_factory=dict)
    wall_seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def run_chaos(config: SimulationConfig, policy: RetryPolicy, plan: ChaosPlan, *, label: str,
              workers: int = 1, database_url: str | None = None) -> ChaosOutcome:
    """Run the whole simulation under ``plan`` on a fresh database (``database_url``: an empty
    PostgreSQL database; default a SQLite file in a temporary folder) and judge it."""
    started = time.perf_counter()
    with _quiet_logs(), temporary_workdir() as workdir:
        sandbox = ChaosSandbox(config, policy, Path(workdir), plan=plan, workers=workers,
                               database_url=database_url)
        try:
            sandbox.run()
            sandbox.drain()
            outcome = judge(sandbox, label)
        finally:
            sandbox.close()
    outcome.wall_seconds = time.perf_counter() - started
    return outcome


@contextmanager
def _quiet_logs():
    """Warnings only while the run lasts (and no line per stale replay, refused by design: one
    each would drown the run's output); the loggers' levels are put back afterwards."""
    loggers = {logging.getLogger(): logging.WARNING,
               logging.getLogger("webhooks.receiver"): logging.ERROR}
    saved = {logger: logger.level for logger in loggers}
    for logger, level in loggers.items():
        logger.setLevel(level)
    try:
        yield
    finally:
        for logger, level in saved.items():
            logger.setLevel(level)


def judge(sandbox: ChaosSandbox, label: str) -> ChaosOutcome:
    outcome = ChaosOutcome(label=label, database=sandbox.services.db_engine.dialect.name,
                           workers=len(sandbox.pool.worker_ids))
    config = sandbox.config
    with sandbox.services.sessions() as session:
        _judge_events(session, sandbox, outcome)
        _judge_actions(session, outcome, horizon_of(config))
        _judge_messages(session, sandbox, outcome)
        report = audit_charges(sandbox.fake.audit, engine_attempts(session))
        cohort_start = config.start + timedelta(days=config.warmup_days)
        metrics = measure(session, sandbox.services.settings.account_id, sandbox.policy.name,
                          cohort_start, config.start + timedelta(days=config.days))
    outcome.max_paid_charges_per_invoice = report.max_paid_per_invoice
    outcome.charges_of_closed_invoices = len(report.charges_of_settled_invoices)
    outcome.charges_of_canceled_subscriptions = len(report.charges_of_canceled_subscriptions)
    outcome.network_breaches = len(report.engine_breaches)
    outcome.stripe_breaches = len(report.breaches) - len(report.engine_breaches)
    outcome.ledger_mismatches = (len(report.engine_charges_unrecorded)
                                 + len(report.stripe_declines_unrecorded)
                                 + len(report.engine_successes_unmatched))
    outcome.failed_invoices, outcome.recovered = metrics.failed_invoices, metrics.recovered
    outcome.recovery_rate = metrics.recovery_rate
    ledger = ledger_recovery(sandbox.fake.audit, cohort_start,
                             config.start + timedelta(days=config.days))
    outcome.ledger_failed_invoices, outcome.ledger_recovered = ledger
    outcome.ledger_recovery_rate = ledger[1] / ledger[0] if ledger[0] else 0.0
    outcome.worker_deaths = sandbox.pool.counts.deaths
    outcome.connection_drops = sandbox.drops.dropped
    outcome.webhook_chaos = {name: value for name, value in vars(sandbox.delivery.counts).items()
                             if isinstance(value, int)}
    outcome.api_faults = sandbox.pool.fault_counts()
    return outcome


def ledger_recovery(entries, cohort_start: datetime, cohort_end: datetime) -> tuple[int, int]:
    """(failed, recovered) from Stripe's side alone: invoices whose first declined charge falls
    in the cohort, and of those the ones paid within ``RECOVERY_SPAN`` of it (by any charge)."""
    first_failed: dict[str, datetime] = {}
    paid_at: dict[str, datetime] = {}
    for entry in entries:
        if entry.paid:
            paid_at.setdefault(entry.invoice_id, entry.at)
        elif entry.invoice_id not in first_failed or entry.at < first_failed[entry.invoice_id]:
            first_failed[entry.invoice_id] = entry.at
    cohort = {invoice: at for invoice, at in first_failed.items()
              if cohort_start <= at < cohort_end}
    recovered = sum(1 for invoice, at in cohort.items()
                    if invoice in paid_at and paid_at[invoice] - at <= RECOVERY_SPAN)
    return len(cohort), recovered


def _judge_events(session, sandbox: ChaosSandbox, outcome: ChaosOutcome) -> None:
    counts = sandbox.delivery.counts
    stored = {event_id: status for event_id, status in session.execute(
        select(WebhookEvent.stripe_event_id, WebhookEvent.status))}
    sent = counts.sent_ids
    # Every event the fake emitted counts, also one still waiting in the delivery queue.
    outcome.events_sent = counts.events
    outcome.deliveries = counts.deliveries
    outcome.events_stored = sum(1 for event_id in sent if event_id in stored)
    outcome.events_lost = outcome.events_sent - outcome.events_stored
    outcome.events_processed = sum(1 for event_id in sent if stored.get(event_id) in DONE_EVENTS)
    outcome.events_unprocessed = outcome.events_stored - outcome.events_processed


def _judge_actions(session, outcome: ChaosOutcome, horizon) -> None:
    outcome.actions_lost = session.execute(select(func.count()).select_from(ScheduledAction).where(
        ScheduledAction.status.in_(OPEN_ACTIONS), ScheduledAction.due_at < horizon)).scalar()
    outcome.actions_failed = session.execute(
        select(func.count()).select_from(ScheduledAction).where(
            ScheduledAction.status == ActionStatus.failed.value)).scalar()


def _judge_messages(session, sandbox: ChaosSandbox, outcome: ChaosOutcome) -> None:
    # A message given up on (``failed``) never reached the customer either: it counts as lost.
    recorded = session.execute(select(Message.message_id)).scalars()
    outcome.messages_lost = sum(1 for message_id in recorded
                                if message_id not in sandbox.delivered_message_ids)


# (row label, how to read it off an outcome) for the printed comparison table.
TABLE_ROWS = (
    ("events sent (distinct)", lambda o: o.events_sent),
    ("deliveries (with copies)", lambda o: o.deliveries),
    ("events stored", lambda o: o.events_stored),
    ("events processed", lambda o: o.events_processed),
    ("events lost (sent, not stored)", lambda o: o.events_lost),
    ("events stored, not processed", lambda o: o.events_unprocessed),
    ("successful charges per invoice (max)", lambda o: o.max_paid_charges_per_invoice),
    ("charges of paid/void/uncollectible invoices", lambda o: o.charges_of_closed_invoices),
    ("charges of canceled subscriptions", lambda o: o.charges_of_canceled_subscriptions),
    ("network-rule breaches (engine's charges)", lambda o: o.network_breaches),
    ("network-rule breaches (Stripe's renewal attempts)", lambda o: o.stripe_breaches),
    ("engine records vs Stripe's ledger mismatches", lambda o: o.ledger_mismatches),
    ("actions lost (never run nor closed)", lambda o: o.actions_lost),
    ("actions given up after their tries", lambda o: o.actions_failed),
    ("messages lost", lambda o: o.messages_lost),
    ("failed invoices (cohort)", lambda o: o.failed_invoices),
    ("recovered", lambda o: o.recovered),
    ("recovery rate (engine's cases)", lambda o: f"{o.recovery_rate:.1%}"),
    ("failed invoices (Stripe's ledger)", lambda o: o.ledger_failed_invoices),
    ("recovered (Stripe's ledger)", lambda o: o.ledger_recovered),
    ("recovery rate (Stripe's ledger)", lambda o: f"{o.ledger_recovery_rate:.1%}"),
    ("worker processes killed and restarted", lambda o: o.worker_deaths),
    ("connections dropped mid-transaction", lambda o: o.connection_drops),
    ("Stripe API calls by the workers", lambda o: o.api_faults.get("requests", 0)),
    ("  answered with a fault", lambda o: sum(
        count for kind, count in o.api_faults.items() if kind in API_FAULTS)),
    ("  of which after the call was made", lambda o: sum(
        count for kind, count in o.api_faults.items()
        if kind in API_FAULTS and kind.endswith("_after"))),
    ("wall time (s)", lambda o: f"{o.wall_seconds:.0f}"),
)


def table_lines(outcomes: list[ChaosOutcome]) -> list[str]:
    """A Markdown table: one row per figure, one column per run."""
    header = ["", *(f"{o.label} ({o.database}, {o.workers} worker{'s' * (o.workers > 1)})"
                    for o in outcomes)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, read in TABLE_ROWS:
        lines.append("| " + " | ".join([label, *(str(read(o)) for o in outcomes)]) + " |")
    return lines


def safety_failures(outcome: ChaosOutcome) -> list[str]:
    """What the run must never show, in words; empty when it held."""
    checks = (
        (outcome.events_lost, "events lost"),
        (outcome.events_unprocessed, "events stored but never processed"),
        (max(outcome.max_paid_charges_per_invoice - 1, 0), "invoices charged more than once"),
        (outcome.charges_of_closed_invoices, "charges of paid, void or uncollectible invoices"),
        (outcome.charges_of_canceled_subscriptions, "charges of canceled subscriptions"),
        (outcome.network_breaches, "network-rule breaches"),
        (outcome.ledger_mismatches, "charges the engine's records and Stripe's ledger disagree on"),
        (outcome.actions_lost, "actions lost"),
        (outcome.messages_lost, "messages lost"),
    )
    return [f"{label}: {count}" for count, label in checks if count]
