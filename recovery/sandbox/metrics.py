"""Recovery figures of one simulated run, read from the engine's own tables.

Counted: invoices whose first failure falls after the warm-up (and before the last renewal);
an invoice counts as recovered when it was paid within 30 days of its first failure. That is
the recovery-rate reports' cohort with the period [warm-up end, last renewal) and N = 30, so the
rates, the curve and the breakdown by decline class are asked of ``recovery/reports`` (the same
functions as the API and the CLI, on the run's database) rather than counted here.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session, select

from models import (
    ActionKind,
    ChargeAttempt,
    Message,
    MessageStatus,
    Offer,
    RecoveryCase,
    ScheduledAction,
)
from recovery.engine import case_store as cases
from recovery.reports.cohort import Period
from recovery.reports.groups import Grouping
from recovery.reports.recovery_curve import recovery_curve
from recovery.reports.recovery_rates import recovery_rate
from recovery.rules.contact import WEEK
from recovery.rules.network_rules import check_attempt

RECOVERY_DAYS = 30
RECOVERY_SPAN = timedelta(days=RECOVERY_DAYS)


@dataclass
class RunMetrics:
    policy: str
    failed_invoices: int = 0
    failed_amount: int = 0
    recovered: int = 0
    recovered_amount: int = 0
    median_hours_to_recover: float | None = None
    retries: int = 0
    stripe_attempts: int = 0
    messages: int = 0
    refusals: int = 0
    violations: int = 0
    # Offers on the cohort's cases: shown, accepted, and what the accepted ones give up (minor
    # units: the discount over its months, or the paused months' billing).
    offers_shown: int = 0
    offers_accepted: int = 0
    revenue_given_up: int = 0
    # Customers who cancelled their subscription themselves during the measured period.
    voluntary_cancellations: int = 0
    # The most messages any one customer got in a rolling 7 days (the contact rules' cap).
    max_messages_per_customer_week: int = 0
    recovered_by_day: list[float] = field(default_factory=list)  # share recovered by day 0..30
    # By the decline class of each invoice's first failure: class -> [failed, recovered].
    by_decline_class: dict[str, list[int]] = field(default_factory=dict)
    wall_seconds: float = 0.0
    invoices_simulated: int = 0

    @property
    def recovery_rate(self) -> float:
        return self.recovered / self.failed_invoices if self.failed_invoices else 0.0

    @property
    def net_recovered_amount(self) -> int:
        """What recovery brought in, less what accepted offers gave up."""
        return self.recovered_amount - self.revenue_given_up

    @property
    def amount_rate(self) -> float:
        return self.recovered_amount / self.failed_amount if self.failed_amount else 0.0

    @property
    def retries_per_failed(self) -> float:
        return self.retries / self.failed_invoices if self.failed_invoices else 0.0

    @property
    def retries_per_recovery(self) -> float:
        return self.retries / self.recovered if self.recovered else 0.0

    @property
    def messages_per_failed(self) -> float:
        return self.messages / self.failed_invoices if self.failed_invoices else 0.0

    def to_dict(self) -> dict:
        return {**asdict(self), "recovery_rate": self.recovery_rate,
                "amount_rate": self.amount_rate, "retries_per_failed": self.retries_per_failed,
                "retries_per_recovery": self.retries_per_recovery,
                "messages_per_failed": self.messages_per_failed}


def measure(session: Session, account_id: str, policy: str, cohort_start: datetime,
            cohort_end: datetime) -> RunMetrics:
    metrics = RunMetrics(policy=policy)
    period = Period(cohort_start, cohort_end, RECOVERY_DAYS)
    _recovery_figures(session, account_id, period, metrics)
    cohort = list(session.exec(select(RecoveryCase).where(
        RecoveryCase.account_id == account_id, RecoveryCase.first_failed_at >= cohort_start,
        RecoveryCase.first_failed_at < cohort_end)))
    ids = {case.id for case in cohort}
    hours = [d.total_seconds() / 3600 for d in map(_recovery_delay, cohort) if d is not None]
    metrics.median_hours_to_recover = statistics.median(hours) if hours else None
    _count_activity(session, metrics, ids)
    _count_offers(session, metrics, ids)
    metrics.max_messages_per_customer_week = busiest_customer_week(session)
    metrics.violations = count_violations(session)
    return metrics


def _recovery_figures(session: Session, account_id: str, period: Period,
                      metrics: RunMetrics) -> None:
    """Failed and recovered invoices, the curve and the decline-class breakdown, from the
    reports. The World bills in several currencies; the comparison table has always added their
    minor units (the same World for every policy, so the sums compare), while the reports keep
    each currency apart: the run's amounts are the sum of the per-currency rows."""
    by_currency = recovery_rate(session, account_id, period, by=Grouping.currency)
    metrics.failed_invoices = by_currency.total.cases
    metrics.recovered = by_currency.total.recovered
    metrics.failed_amount = sum(row.amount_due for row in by_currency.rows)
    metrics.recovered_amount = sum(row.recovered_amount for row in by_currency.rows)
    metrics.recovered_by_day = [point.share
                                for point in recovery_curve(session, account_id, period).points]
    by_class = recovery_rate(session, account_id, period, by=Grouping.decline_class)
    metrics.by_decline_class = {row.group: [row.cases, row.recovered] for row in by_class.rows}


def _recovery_delay(case: RecoveryCase) -> timedelta | None:
    if case.status != "recovered" or case.closed_at is None:
        return None
    delay = case.closed_at - case.first_failed_at
    return delay if delay <= RECOVERY_SPAN else None


def _count_activity(session: Session, metrics: RunMetrics, ids: set[int]) -> None:
    for attempt in session.exec(select(ChargeAttempt).where(ChargeAttempt.case_id.is_not(None))):
        if attempt.case_id in ids:
            if attempt.by == "engine":
                metrics.retries += 1
            else:
                metrics.stripe_attempts += 1
    metrics.messages = sum(1 for m in session.exec(select(Message)) if m.case_id in ids)
    retries = session.exec(select(ScheduledAction).where(
        ScheduledAction.kind == ActionKind.retry.value))
    metrics.refusals = sum(1 for a in retries
                           if a.case_id in ids and a.result and "refused" in a.result)


def _count_offers(session: Session, metrics: RunMetrics, ids: set[int]) -> None:
    for offer in session.exec(select(Offer)):
        if offer.case_id not in ids:
            continue
        metrics.offers_shown += 1
        if offer.accepted_at is not None:
            metrics.offers_accepted += 1
            metrics.revenue_given_up += offer.revenue_given_up or 0


def busiest_customer_week(session: Session) -> int:
    """The most messages sent to one customer within any 7 days (all of the run's)."""
    times: dict[str, list[datetime]] = {}
    for customer, at in session.exec(select(Message.stripe_customer_id, Message.created_at)
                                     .where(Message.status == MessageStatus.sent.value)):
        times.setdefault(customer or "", []).append(at)
    busiest = 0
    for moments in times.values():
        moments.sort()
        start = 0
        for end, at in enumerate(moments):
            while at - moments[start] >= WEEK:
                start += 1
            busiest = max(busiest, end - start + 1)
    return busiest


def count_violations(session: Session) -> int:
    """Engine charges the network rules would have refused, judged after the fact."""
    attempts = list(session.exec(select(ChargeAttempt).order_by(ChargeAttempt.attempted_at,
                                                                ChargeAttempt.id)))
    history: dict[str, list] = {}
    violations = 0
    for attempt in attempts:
        fingerprint = attempt.card_fingerprint or ""
        earlier = history.setdefault(fingerprint, [])
        if attempt.by == "engine" and fingerprint and not check_attempt(
                fingerprint, attempt.card_brand, attempt.attempted_at, earlier).allowed:
            violations += 1
        earlier.append(cases.to_record(attempt))
    return violations
