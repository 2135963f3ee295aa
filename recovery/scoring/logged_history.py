"""An account's logged retry history, a candidate policy replayed on it, and the estimates.

Reads the cases whose 30-day outcome is complete, their engine retries (each with the logged
propensity and exploration details) and the retry each case had planned when it left the retry
path; replays the candidate with the real planning function (``plan_next_retries``: quiet hours,
network rules, decline handling) from each case's first failure; scores both paths' attempts with
the account's outcome model in one batch; and hands the arrays to ``evaluation.estimate``.

Assumes the engine owned the retries (exclusive mode): Stripe's own retries are not modelled.
What follows a card update, a customer's own payment or a cancellation is taken to be the same
under any retry schedule. A candidate with segments plans each case with the segment that
matches it, re-chosen each round with the latest decline as the engine does.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import func, select
from sqlmodel import Session

from ml.dataset import attempt_dataset
from ml.features import candidate_frames
from ml.history import AccountLog
from ml.registry import Artifact, active_artifact
from ml.training import train
from models import ActionKind, ActionStatus, ChargeAttempt, RecoveryCase, ScheduledAction
from recovery.rules.declines import Classification, classify_decline
from recovery.rules.local_time import epoch_hours, from_epoch_hour
from recovery.rules.network_rules import AttemptRecord
from recovery.rules.policy import RetryContext, RetryPolicy, plan_next_retries
from recovery.rules.segments import CaseFacts, SegmentedPolicy
from recovery.scoring.evaluation import (
    INFINITY,
    Estimates,
    LoggedDecision,
    estimate,
    no_retry_rates,
    recovery_chance,
    trajectory_weight,
)
from webhooks.facts import DeclineInfo

OUTCOME_SPAN = timedelta(days=30)
EXOGENOUS_ENDS = ("canceled", "closed_elsewhere")  # how a case leaves besides retries
MAX_REPLAYED_RETRIES = 30


@dataclass
class LoggedCase:
    """One case of the log, as the estimators see it."""

    case_id: int
    first_failed_at: datetime
    first_attempt_at: datetime
    classification: Classification | None  # of the first decline
    card_fingerprint: str | None
    card_brand: str | None
    timezone: str
    decline_class: str
    recovered: bool  # paid within 30 days of the first failure
    recovered_by: str | None
    retry_recovered: bool  # an engine retry on the original card paid it
    horizon: float  # hours since the epoch the case left the retry path (inf: never)
    base_history: tuple[AttemptRecord, ...]  # attempts before the engine's first retry
    decisions: list[LoggedDecision] = field(default_factory=list)
    labels: list[Classification | None] = field(default_factory=list)  # per executed retry
    facts: CaseFacts | None = None  # what segment rules see (at the first decline)


@dataclass(frozen=True)
class PolicyEvaluation:
    policy: str
    outcome_model: str  # which artifact scored the attempts, and where it came from
    estimates: Estimates
    logged_rate: float  # the logging policy's own recovery rate on these cases


def evaluate_policy(session: Session, account_id: str, policy: RetryPolicy | SegmentedPolicy, *,
                    since: datetime | None = None, until: datetime | None = None,
                    half_width: float = 12.0, resamples: int = 400, seed: int = 0,
                    artifact: Artifact | None = None,
                    cases: list[LoggedCase] | None = None) -> PolicyEvaluation:
    """Estimate ``policy``'s 30-day recovery rate from the account's logged history (``cases``:
    the log already loaded with ``load_logged_cases``, if the caller has it)."""
    segmented = policy if isinstance(policy, SegmentedPolicy) else SegmentedPolicy(policy)
    if any(p.timing != "fixed" for p in (segmented.base, *(s.policy for s in
                                                          segmented.segments))):
        raise ValueError("evaluate-policy judges fixed-timing candidates (a smart candidate's "
                         "choices depend on a scorer the log cannot replay)")
    if cases is None:
        cases = load_logged_cases(session, account_id, since=since, until=until)
    if artifact is None:
        artifact, source = outcome_model(session, account_id)
    else:
        source = f"given artifact {artifact.version}"
    candidate = replay_candidate(segmented, cases, half_width)
    log = AccountLog.load(session, account_id)
    chances_candidate, chances_logged = score_paths(artifact, log, cases, candidate)
    recovered = np.array([c.recovered for c in cases], dtype=np.float64)
    by_retry = np.array([c.retry_recovered for c in cases], dtype=bool)
    q = no_retry_rates([c.decline_class for c in cases], recovered, by_retry)
    direct = recovery_chance(q, chances_candidate)
    logged = recovery_chance(q, chances_logged)
    weights = np.array([trajectory_weight(
        [epoch_hours(t) for t in times], c.decisions, retry_recovered=c.retry_recovered,
        horizon=c.horizon, half_width=half_width) for c, times in zip(cases, candidate,
                                                                       strict=True)])
    found = estimate(recovered, weights, direct, logged, resamples=resamples, seed=seed)
    return PolicyEvaluation(segmented.base.name, source, found,
                            float(recovered.mean()) if len(cases) else math.nan)


def outcome_model(session: Session, account_id: str) -> tuple[Artifact, str]:
    """The account's active artifact, or one trained now on its log (never saved)."""
    active = active_artifact(session, account_id)
    if active is not None:
        return active, f"active artifact {active.version}"
    dataset = attempt_dataset(session, account_id)
    if len(dataset) == 0:
        raise ValueError("the account has no retry attempts to learn an outcome model from")
    result = train(dataset)
    trained = Artifact(version="trained-for-evaluation", account_id=account_id, metadata={},
                       pipeline=result.pipeline)
    return trained, f"trained now on {len(dataset)} attempts (no active artifact)"


def log_end(session: Session, account_id: str) -> datetime | None:
    return session.scalar(select(func.max(ChargeAttempt.attempted_at)).where(
        ChargeAttempt.account_id == account_id))


def load_logged_cases(session: Session, account_id: str, *, since: datetime | None = None,
                      until: datetime | None = None) -> list[LoggedCase]:
    """Cases first failed in [since, until); ``until`` defaults to 30 days before the log's
    last attempt, so every case's 30-day outcome is known."""
    if until is None:
        end = log_end(session, account_id)
        if end is None:
            return []
        until = end - OUTCOME_SPAN
    query = select(RecoveryCase).where(RecoveryCase.account_id == account_id,
                                       RecoveryCase.first_failed_at < until)
    if since is not None:
        query = query.where(RecoveryCase.first_failed_at >= since)
    rows = list(session.scalars(query.order_by(RecoveryCase.first_failed_at, RecoveryCase.id)))
    attempts = _by_case(session, ChargeAttempt, [r.id for r in rows], ChargeAttempt.attempted_at)
    actions = _by_case(session, ScheduledAction, [r.id for r in rows], ScheduledAction.id,
                       ScheduledAction.kind == ActionKind.retry.value)
    earlier = _earlier_failures(rows)
    found = [_logged_case(row, attempts.get(row.id, []), actions.get(row.id, []),
                          earlier.get(row.id, 0)) for row in rows]
    return [case for case in found if case is not None]


def _earlier_failures(rows: list[RecoveryCase]) -> dict[int, int]:
    """Per case, the customer's cases that failed before it (among ``rows``, which are in the
    order they first failed)."""
    seen: dict[str, int] = defaultdict(int)
    earlier = {}
    for row in rows:
        if row.stripe_customer_id:
            earlier[row.id] = seen[row.stripe_customer_id]
            seen[row.stripe_customer_id] += 1
    return earlier


def _by_case(session: Session, table, case_ids: list[int], order, *conditions) -> dict:
    grouped: dict[int, list] = defaultdict(list)
    for n in range(0, len(case_ids), 500):
        chunk = case_ids[n:n + 500]
        for row in session.scalars(select(table).where(table.case_id.in_(chunk), *conditions)
                                   .order_by(order, table.id)):
            grouped[row.case_id].append(row)
    return grouped


def _logged_case(case: RecoveryCase, attempts: list, actions: list,
                 earlier_failures: int) -> LoggedCase | None:
    failed = [a for a in attempts if not a.succeeded]
    if not failed:
        return None  # no decline on record: nothing to plan from
    first = failed[0]
    recovered = (case.status == "recovered" and case.closed_at is not None
                 and case.closed_at - case.first_failed_at <= OUTCOME_SPAN)
    by_retry = recovered and case.recovered_by == "retry"
    horizon = _horizon(case, recovered, by_retry)
    engine = [a for a in attempts if a.by == "engine" and epoch_hours(a.attempted_at) < horizon]
    if by_retry:
        last_success = next((n for n, a in enumerate(engine) if a.succeeded), None)
        engine = engine[:last_success + 1] if last_success is not None else engine
    first_engine = engine[0].attempted_at if engine else None
    logged = LoggedCase(
        case_id=case.id, first_failed_at=case.first_failed_at,
        first_attempt_at=first.attempted_at, classification=_classify(first),
        card_fingerprint=first.card_fingerprint or case.card_fingerprint,
        card_brand=first.card_brand or case.card_brand, timezone=case.customer_timezone,
        decline_class=first.decline_class or "unknown", recovered=recovered,
        recovered_by=case.recovered_by, retry_recovered=by_retry and any(
            a.succeeded for a in engine), horizon=horizon,
        base_history=tuple(_record(a) for a in attempts if a.by != "engine" and (
            first_engine is None or a.attempted_at < first_engine)))
    logged.facts = CaseFacts(
        amount=case.amount_due, currency=case.currency,
        plan_interval_days=case.plan_interval_days, card_country=first.card_country,
        card_funding=first.card_funding, decline_class=first.decline_class,
        earlier_failures=earlier_failures)
    logged.decisions = [_decision(a.features, a.attempted_at) for a in engine]
    logged.labels = [None if a.succeeded else _classify(a) for a in engine]
    pending = _pending(actions, horizon) if not logged.retry_recovered else None
    if pending is not None:
        logged.decisions.append(pending)
    return logged


def _horizon(case: RecoveryCase, recovered: bool, by_retry: bool) -> float:
    """When the case left the retry path for a reason retry times do not decide."""
    ends = []
    if case.card_changed_at is not None:
        ends.append(case.card_changed_at)
    if case.closed_at is not None and ((recovered and not by_retry)
                                       or case.status in EXOGENOUS_ENDS):
        ends.append(case.closed_at)
    return epoch_hours(min(ends)) if ends else INFINITY


def _pending(actions: list, horizon: float) -> LoggedDecision | None:
    """The retry the logging policy had planned when the case left the retry path."""
    # The last retry planned before the horizon (a card update's own retry comes after it).
    before = [a for a in actions if epoch_hours(a.created_at) < horizon]
    if not math.isfinite(horizon) or not before:
        return None
    last = before[-1]
    decision = (last.params or {}).get("decision")
    if last.status != ActionStatus.canceled.value or not decision:
        return None
    if epoch_hours(last.due_at) < horizon:
        return None
    return replace(_decision(decision, last.due_at), executed=False)


def _decision(features: dict | None, at: datetime) -> LoggedDecision:
    features = features if isinstance(features, dict) else {}
    explanation = features.get("explanation") or {}
    propensity = features.get("propensity")
    greedy = explanation.get("greedy_at")
    runs = explanation.get("safe_hours")
    return LoggedDecision(
        at=epoch_hours(at),
        propensity=float(propensity) if isinstance(propensity, int | float) else 1.0,
        greedy_at=epoch_hours(datetime.fromisoformat(greedy)) if greedy else None,
        exploration=explanation.get("exploration"),
        safe_hours=tuple((int(a), int(b)) for a, b in runs) if runs is not None else None,
        safe_set_size=explanation.get("safe_set"),
        explored=bool(explanation.get("explored", False)))


def _classify(attempt) -> Classification | None:
    if not (attempt.failure_code or attempt.decline_code or attempt.outcome_type):
        return None
    return classify_decline(DeclineInfo(
        failure_code=attempt.failure_code, decline_code=attempt.decline_code,
        advice_code=attempt.advice_code, network_decline_code=attempt.network_decline_code,
        network_advice_code=attempt.network_advice_code, outcome_type=attempt.outcome_type,
        outcome_reason=attempt.outcome_reason), attempt.card_brand)


def _record(attempt) -> AttemptRecord:
    return AttemptRecord(card_fingerprint=attempt.card_fingerprint or "",
                         at=attempt.attempted_at, succeeded=attempt.succeeded,
                         classification=None if attempt.succeeded else _classify(attempt),
                         by=attempt.by if attempt.by in ("stripe", "engine") else "stripe",
                         kind=attempt.payment_method_kind)


def replay_candidate(policy: RetryPolicy | SegmentedPolicy, cases: Sequence[LoggedCase],
                     half_width: float) -> list[list[datetime]]:
    """Each case's candidate attempt times, planned as the engine would, one round per retry.

    After a candidate attempt that matches a logged one (within ``half_width`` hours), the next
    plan sees that attempt's logged decline (a hard decline stops it, as it stopped the log);
    otherwise it keeps the latest decline it knows."""
    times: list[list[datetime]] = [[] for _ in cases]
    labels = [case.classification for case in cases]
    active = list(range(len(cases)))
    for number in range(MAX_REPLAYED_RETRIES):
        if not active:
            break
        items = [(_policy_for(policy, cases[i], labels[i]),
                  _context(cases[i], times[i], labels[i], number)) for i in active]
        still = []
        for i, plan in zip(active, plan_next_retries(items), strict=True):
            if plan.kind != "retry" or plan.at is None:
                continue
            times[i].append(plan.at)
            labels[i] = _label_after(cases[i], number, plan.at, labels[i], half_width)
            still.append(i)
        active = still
    return times


def _policy_for(policy: RetryPolicy | SegmentedPolicy, case: LoggedCase,
                label: Classification | None) -> RetryPolicy:
    """The case's policy: its segment's, chosen with its latest decline, if it has segments."""
    if isinstance(policy, RetryPolicy):
        return policy
    if case.facts is None:
        return policy.base
    facts = replace(case.facts, decline_class=label.decline_class.value) if label is not None \
        else case.facts
    return policy.for_case(facts)[0]


def _context(case: LoggedCase, times: list[datetime], label, number: int) -> RetryContext:
    now = times[-1] if times else case.first_attempt_at
    own = tuple(AttemptRecord(card_fingerprint=case.card_fingerprint or "", at=at,
                              succeeded=False, classification=label, by="engine")
                for at in times)
    return RetryContext(now=now, first_failed_at=case.first_failed_at, retries_done=number,
                        classification=label, card_fingerprint=case.card_fingerprint,
                        card_brand=case.card_brand, history=case.base_history + own,
                        timezone=case.timezone, case_id=case.case_id)


def _label_after(case: LoggedCase, number: int, at: datetime, label, half_width: float):
    executed = [d for d in case.decisions if d.executed]
    if number < len(executed) and abs(executed[number].at - epoch_hours(at)) <= half_width:
        return case.labels[number] or label
    return label


def score_paths(artifact: Artifact, log: AccountLog, cases: Sequence[LoggedCase],
                candidate: Sequence[Sequence[datetime]]) -> tuple[list, list]:
    """P(success) of every candidate attempt and every logged one, in one prediction.

    Each attempt is scored from the case's snapshot just after its first failure, with the
    attempt number and the previous attempt's time set for that attempt."""
    pairs, owners = [], []
    for n, (case, times) in enumerate(zip(cases, candidate, strict=True)):
        base = log.snapshot(case.case_id, case.first_attempt_at + timedelta(microseconds=1))
        logged = [from_epoch_hour(d.at) for d in case.decisions if d.executed]
        logged += times[len(logged):]  # beyond the log: the candidate's own later attempts
        for path, path_times in ((0, times), (1, logged)):
            previous = base.last_attempt_at
            for k, at in enumerate(path_times):
                pairs.append((replace(base, attempt_number=base.attempt_number + k,
                                      last_attempt_at=previous), [at]))
                owners.append((n, path))
                previous = at
    chances = artifact.predict_success(candidate_frames(pairs)) if pairs else np.empty(0)
    split: tuple[list, list] = ([[] for _ in cases], [[] for _ in cases])
    for (n, path), chance in zip(owners, chances, strict=True):
        split[path][n].append(float(chance))
    return split
