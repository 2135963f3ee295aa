"""An account's policy as the API and the CLI read it: the active document and its version, the
versions, and a candidate's estimated recovery rate on the account's own history. Read-only.

The preview uses the off-policy estimators (``scoring.logged_history``) on the account's logged
engine retries, each with the propensity its time was chosen with. Where there is nothing to
estimate from, or the candidate times its retries smartly (its choices would be the scorer's at
run time, which the log cannot replay), the preview says why instead of giving a number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sqlmodel import select

from models import Account, PolicyVersion
from recovery.engine.policy_document import stored_or_normal, validated_document
from recovery.engine.policy_versions import (
    PolicyVersionInfo,
    latest_version,
    version_info,
    version_row,
)
from recovery.errors import NotFound
from recovery.rules.segments import SegmentedPolicy
from recovery.runtime.db import SessionFactory
from recovery.scoring.evaluation import Interval
from recovery.scoring.logged_history import evaluate_policy, load_logged_cases


@dataclass(frozen=True)
class ActivePolicy:
    document: dict  # in normal form: every retry field filled in
    version: PolicyVersionInfo | None  # None: never changed since versions are kept


def active_policy(sessions: SessionFactory, *, account_id: str) -> ActivePolicy:
    with sessions() as session:
        account = session.get(Account, account_id)
        if account is None:
            raise NotFound(f"no account {account_id}")
        latest = latest_version(session, account_id)
        return ActivePolicy(stored_or_normal(account.policy),
                            version_info(latest) if latest else None)


def policy_versions(sessions: SessionFactory, *, account_id: str) -> list[PolicyVersionInfo]:
    """The account's versions, the newest first."""
    with sessions() as session:
        rows = session.exec(select(PolicyVersion).where(PolicyVersion.account_id == account_id)
                            .order_by(PolicyVersion.number.desc()))
        return [version_info(row) for row in rows]


def policy_version(sessions: SessionFactory, *, account_id: str,
                   number: int) -> PolicyVersionInfo:
    with sessions() as session:
        return version_info(version_row(session, account_id, number))


@dataclass(frozen=True)
class PolicyPreview:
    """The candidate's estimated 30-day recovery rate (doubly robust) with its 95% interval, or
    None and the reason there is none."""

    estimate: float | None
    low: float | None = None
    high: float | None = None
    reason: str | None = None
    cases: int = 0  # logged cases the estimate is made on
    matched: int = 0  # of those, cases whose logged retries the candidate would also make
    effective_sample_size: float = 0.0
    logged_rate: float | None = None  # what the account's own policy recovered of these cases
    outcome_model: str | None = None
    estimators: dict[str, Interval] | None = None  # direct, ipw, doubly_robust


def preview_policy(sessions: SessionFactory, *, account_id: str, document: Any,
                   resamples: int = 400, seed: int = 0) -> PolicyPreview:
    """Estimate how a candidate policy document would have done on the account's history
    (``PolicyError`` if the document is invalid)."""
    candidate = SegmentedPolicy.from_document(validated_document(document))
    if candidate.uses_smart_timing:
        return PolicyPreview(None, reason="a smart-timing candidate picks its hours with the "
                             "scorer when it runs; the log cannot replay those choices")
    with sessions() as session:
        cases = load_logged_cases(session, account_id)
        if not any(decision.executed for case in cases for decision in case.decisions):
            return PolicyPreview(None, reason="no engine retries with a complete 30-day outcome "
                                 "are logged for this account yet", cases=len(cases))
        try:
            found = evaluate_policy(session, account_id, candidate, cases=cases,
                                    resamples=resamples, seed=seed)
        except ValueError as problem:
            return PolicyPreview(None, reason=str(problem), cases=len(cases))
    e = found.estimates
    best = e.doubly_robust
    common = dict(cases=e.cases, matched=e.matched, effective_sample_size=e.effective_sample_size,
                  logged_rate=_number(found.logged_rate), outcome_model=found.outcome_model,
                  estimators={"direct": e.direct, "ipw": e.ipw, "doubly_robust": best})
    if not all(map(math.isfinite, (best.estimate, best.low, best.high))):
        return PolicyPreview(None, reason="the log gave no usable estimate for this candidate",
                             **common)
    return PolicyPreview(best.estimate, best.low, best.high, **common)


def _number(value: float) -> float | None:
    return value if math.isfinite(value) else None
