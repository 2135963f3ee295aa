"""What an A/B experiment between two policy versions shows so far: per arm, and the difference
with its intervals and the sequential test. Read-only, always within one account.

The experiment's cases are those of its assigned customers (joined through
``experiment_assignment``) opened while it ran. Rates and money per case count ended cases only:
an open case's outcome is not known yet. Activity (attempts, messages, cancellations, revenue
given up) counts every case. Customers are randomised, cases are counted: a customer with
several failed invoices in the window weighs more than one, which the intervals treat as
independent cases.

Amounts are never added across currencies: with ``currency`` given, only that currency's cases
count; otherwise counts cover every currency and money (amounts due and recovered, revenue
given up, the rate by amount and the money per case) the experiment's main currency, the one
most of its cases are in (as the recovery-rate reports do for a period).

The sequential test looks after every ended case, in the order cases ended. A policy that ends
its cases sooner (it gives up sooner, or recovers sooner) shows its outcomes sooner: while many
cases are open, early looks can favour that arm beyond its final rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import and_, false, func, select
from sqlmodel import Session

from models import (
    CanceledSubscription,
    CaseStatus,
    ChargeAttempt,
    Experiment,
    ExperimentAssignment,
    Message,
    Offer,
    OfferStatus,
    PolicyVersion,
    RecoveryCase,
)
from recovery.errors import NotFound
from recovery.reports.experiment_statistics import (
    DEFAULT_MIXING_VARIANCE,
    Difference,
    Proportion,
    RatioOfSums,
    SequentialResult,
    mean_difference,
    proportion,
    proportion_difference,
    ratio_difference,
    ratio_of_sums,
    sequential_test,
)
from recovery.rules.experiment_assignment import Arm


@dataclass(frozen=True)
class ArmResults:
    arm: Arm
    policy_version_id: int
    customers: int  # assigned to the arm
    cases: int  # of those customers, opened while the experiment ran
    open_cases: int  # not ended yet: outside the rates
    recovered: Proportion  # recovered out of ended cases, with its Wilson interval
    # Recovered amount over amount due of the ended cases in the results' currency, with its
    # interval (``experiment_statistics.ratio_of_sums``).
    amount: RatioOfSums
    attempts: int  # charge attempts on the arm's cases, Stripe's and the engine's
    messages: int  # emails and SMS written for the arm's cases
    cancellations: int  # the cases' subscriptions canceled since the experiment started
    revenue_given_up: int  # by offers applied on the arm's cases, minor units

    @property
    def amount_due(self) -> int:
        """Of the ended cases in the results' currency, minor units."""
        return round(self.amount.denominator)

    @property
    def amount_recovered(self) -> int:
        return round(self.amount.numerator)

    @property
    def amount_rate(self) -> float:
        return self.amount.rate

    @property
    def net_revenue(self) -> int:
        """What the arm recovered, less what its applied offers gave up."""
        return self.amount_recovered - self.revenue_given_up

    @property
    def attempts_per_case(self) -> float:
        return self.attempts / self.cases if self.cases else 0.0

    @property
    def messages_per_case(self) -> float:
        return self.messages / self.cases if self.cases else 0.0

    @property
    def cancellation_rate(self) -> float:
        return self.cancellations / self.cases if self.cases else 0.0


@dataclass(frozen=True)
class ExperimentResults:
    experiment_id: int
    name: str
    status: str
    treatment_percent: int
    currency: str | None  # of every amount; None: no case yet
    control: ArmResults
    treatment: ArmResults
    recovery_rate_difference: Difference  # Newcombe, treatment minus control
    amount_rate_difference: Difference  # of the rates by amount, from the arms' intervals
    amount_recovered_per_case_difference: Difference  # Welch, minor units per ended case
    net_revenue_per_case_difference: Difference  # Welch, minor units per ended case
    sequential: SequentialResult  # on the recovery rate by count


@dataclass(frozen=True)
class _EndedCase:
    arm: Arm
    recovered: bool
    currency: str
    amount_due: int
    net_revenue: int  # recovered amount less the revenue its applied offers gave up
    ended_at: datetime
    case_id: int


def find_experiment(session: Session, account_id: str, experiment_id: int) -> Experiment:
    """The account's experiment; another account's, or none, is NotFound."""
    experiment = session.scalars(select(Experiment).where(
        Experiment.id == experiment_id, Experiment.account_id == account_id)).first()
    if experiment is None:
        raise NotFound(f"no experiment {experiment_id} in this account")
    return experiment


def list_experiments(session: Session, account_id: str) -> list[Experiment]:
    """The account's experiments, the newest first."""
    return list(session.scalars(select(Experiment).where(Experiment.account_id == account_id)
                                .order_by(Experiment.id.desc())))


def version_numbers(session: Session, account_id: str,
                    version_ids: set[int]) -> dict[int, int]:
    """The account's policy version numbers (what people name) by row id (what is stored)."""
    if not version_ids:
        return {}
    rows = session.execute(select(PolicyVersion.id, PolicyVersion.number).where(
        PolicyVersion.account_id == account_id, PolicyVersion.id.in_(version_ids)))
    return {row_id: number for row_id, number in rows}


def experiment_results(session: Session, account_id: str, experiment_id: int, *,
                       currency: str | None = None, confidence: float = 0.95,
                       alpha: float = 0.05,
                       mixing_variance: float = DEFAULT_MIXING_VARIANCE) -> ExperimentResults:
    """Per-arm results of the account's experiment, with intervals at ``confidence`` and the
    sequential test at ``alpha`` (see ``experiment_statistics.sequential_test``)."""
    experiment = find_experiment(session, account_id, experiment_id)
    cases = _experiment_cases(experiment, currency).subquery()
    money = currency or _main_currency(session, cases)
    given_up = _revenue_given_up_by_case(session, cases)
    ended = _ended_cases(session, cases, given_up)
    control, treatment = (
        _arm_results(session, experiment, cases, arm, ended, given_up, money, confidence)
        for arm in (Arm.control, Arm.treatment))
    control_ended, treatment_ended = (
        [case for case in ended if case.arm == arm and case.currency == money]
        for arm in (Arm.control, Arm.treatment))
    return ExperimentResults(
        experiment.id, experiment.name, experiment.status, experiment.treatment_percent,
        money, control, treatment,
        proportion_difference(control.recovered, treatment.recovered),
        ratio_difference(control.amount, treatment.amount),
        mean_difference(_amounts_recovered(control_ended), _amounts_recovered(treatment_ended),
                        confidence=confidence),
        mean_difference([case.net_revenue for case in control_ended],
                        [case.net_revenue for case in treatment_ended], confidence=confidence),
        _sequential(ended, alpha, mixing_variance))


def _experiment_cases(experiment: Experiment, currency: str | None):
    """The experiment's cases with their arm: its customers' cases opened while it ran."""
    query = select(
        RecoveryCase.id, RecoveryCase.status, RecoveryCase.amount_due, RecoveryCase.currency,
        RecoveryCase.stripe_subscription_id,
        func.coalesce(RecoveryCase.closed_at, RecoveryCase.updated_at).label("ended_at"),
        ExperimentAssignment.arm,
    ).join(ExperimentAssignment, and_(
        ExperimentAssignment.account_id == RecoveryCase.account_id,
        ExperimentAssignment.stripe_customer_id == RecoveryCase.stripe_customer_id,
    )).where(ExperimentAssignment.experiment_id == experiment.id,
             RecoveryCase.account_id == experiment.account_id)
    if experiment.started_at is None:  # a draft has no cases yet
        return query.where(false())
    query = query.where(RecoveryCase.created_at >= experiment.started_at)
    if experiment.stopped_at is not None:
        query = query.where(RecoveryCase.created_at < experiment.stopped_at)
    if currency is not None:
        query = query.where(RecoveryCase.currency == currency)
    return query


def _main_currency(session: Session, cases) -> str | None:
    """The currency most of the experiment's cases are in (alphabetical first on a tie)."""
    counts = session.execute(select(cases.c.currency, func.count()).group_by(cases.c.currency))
    return min(((-count, found) for found, count in counts), default=(0, None))[1]


def _revenue_given_up_by_case(session: Session, cases) -> dict[int, int]:
    rows = session.execute(
        select(Offer.case_id, func.sum(Offer.revenue_given_up))
        .join(cases, Offer.case_id == cases.c.id)
        .where(Offer.status == OfferStatus.applied.value)
        .group_by(Offer.case_id))
    return {case_id: int(total or 0) for case_id, total in rows}


def _ended_cases(session: Session, cases, given_up: dict[int, int]) -> list[_EndedCase]:
    """The cases no longer open, in the order they ended."""
    rows = session.execute(select(cases).where(cases.c.status != CaseStatus.open.value))
    ended = []
    for row in rows:
        recovered = row.status == CaseStatus.recovered.value
        amount = row.amount_due if recovered else 0
        ended.append(_EndedCase(Arm(row.arm), recovered, row.currency, row.amount_due,
                                amount - given_up.get(row.id, 0), row.ended_at, row.id))
    return sorted(ended, key=lambda case: (case.ended_at, case.case_id))


def _amounts_recovered(ended: list[_EndedCase]) -> list[int]:
    return [case.amount_due if case.recovered else 0 for case in ended]


def _arm_results(session: Session, experiment: Experiment, cases, arm: Arm,
                 ended: list[_EndedCase], given_up: dict[int, int], money: str | None,
                 confidence: float) -> ArmResults:
    mine = [case for case in ended if case.arm == arm]
    in_money = [case for case in mine if case.currency == money]
    case_currencies = dict(session.execute(
        select(cases.c.id, cases.c.currency).where(cases.c.arm == arm.value)).all())
    recovered = sum(case.recovered for case in mine)
    return ArmResults(
        arm=arm,
        policy_version_id=(experiment.treatment_policy_version_id if arm == Arm.treatment
                           else experiment.control_policy_version_id),
        customers=_count(session, select(func.count(ExperimentAssignment.id)).where(
            ExperimentAssignment.experiment_id == experiment.id,
            ExperimentAssignment.arm == arm.value)),
        cases=len(case_currencies),
        open_cases=len(case_currencies) - len(mine),
        recovered=proportion(recovered, len(mine), confidence=confidence),
        amount=ratio_of_sums(_amounts_recovered(in_money),
                             [case.amount_due for case in in_money], confidence=confidence),
        attempts=_count(session, select(func.count(ChargeAttempt.id)).join(
            cases, ChargeAttempt.case_id == cases.c.id).where(cases.c.arm == arm.value)),
        messages=_count(session, select(func.count(Message.id)).join(
            cases, Message.case_id == cases.c.id).where(cases.c.arm == arm.value)),
        cancellations=_cancellations(session, experiment, cases, arm),
        revenue_given_up=sum(given_up.get(case_id, 0)
                             for case_id, found in case_currencies.items() if found == money),
    )


def _cancellations(session: Session, experiment: Experiment, cases, arm: Arm) -> int:
    query = select(func.count(func.distinct(CanceledSubscription.stripe_subscription_id))).join(
        cases, CanceledSubscription.stripe_subscription_id == cases.c.stripe_subscription_id,
    ).where(CanceledSubscription.account_id == experiment.account_id,
            cases.c.arm == arm.value)
    if experiment.started_at is not None:
        query = query.where(CanceledSubscription.canceled_at >= experiment.started_at)
    return _count(session, query)


def _count(session: Session, query) -> int:
    return int(session.execute(query).scalar() or 0)


def _sequential(ended: list[_EndedCase], alpha: float,
                mixing_variance: float) -> SequentialResult:
    """The sequential test with a look after every ended case."""
    is_treatment = np.array([case.arm == Arm.treatment for case in ended], dtype=bool)
    recovered = np.array([case.recovered for case in ended], dtype=bool)
    return sequential_test(
        np.cumsum(recovered & ~is_treatment), np.cumsum(~is_treatment),
        np.cumsum(recovered & is_treatment), np.cumsum(is_treatment),
        alpha=alpha, mixing_variance=mixing_variance)
