"""The smart scorer with a stand-in ``ml``: the prior until the account has enough attempts,
then the artifact, scoring many cases per prediction, with contributions in the explanation."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import numpy as np
import pandas as pd

from recovery.rules.declines import classify_decline
from recovery.rules.network_rules import AttemptRecord
from recovery.rules.policy import RetryContext, RetryPolicy, plan_next_retries
from recovery.scoring.smart import MlParts, SmartScorer
from webhooks.facts import DeclineInfo

FAILED = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
NSF = classify_decline(DeclineInfo("card_declined", "insufficient_funds"), "visa")
POLICY = RetryPolicy(timing="smart", exploration=0.0)


def frames(pairs) -> pd.DataFrame:
    """Stand-in for ``ml.features.candidate_frames``: the case and the UTC hour of each row."""
    return pd.DataFrame({
        "case": np.concatenate([np.full(len(times), s.case_id) for s, times in pairs]),
        "utc_hour": np.concatenate([times.astype("datetime64[h]").astype(np.int64) % 24
                                    for _s, times in pairs])})


@dataclass
class Artifact:
    """Likes 15:00 UTC; counts its predictions."""

    version: str = "hgb-test-1"
    calls: list[int] = field(default_factory=list)

    def predict_success(self, frame: pd.DataFrame) -> np.ndarray:
        self.calls.append(len(frame))
        return np.where(frame["utc_hour"].to_numpy() == 15, 0.6, 0.05)

    def contributions(self, row: pd.DataFrame):
        return [("utc_hour", 0.55), ("case", 0.0)]


class Session:
    """Answers the scorer's one query (the account's attempt count)."""

    def __init__(self, attempts: int):
        self.attempts = attempts

    def exec(self, _query):
        return SimpleNamespace(one=lambda: self.attempts)


def scorer(artifact: Artifact) -> SmartScorer:
    snapshot = lambda case_id: SimpleNamespace(  # noqa: E731
        case_id=case_id, attempt_number=2, last_attempt_at=None,
        history=SimpleNamespace(paid_days_of_month=()))
    parts = MlParts(active_artifact=lambda _s, _a: artifact,
                    snapshots_for_cases=lambda _s, _a, ids, _now: {i: snapshot(i) for i in ids},
                    candidate_frames=frames)
    return SmartScorer(min_attempts=500, ml=parts)


def items(count: int):
    cases = [SimpleNamespace(id=n, account_id="acct") for n in range(1, count + 1)]
    contexts = [(POLICY, RetryContext(
        now=FAILED, first_failed_at=FAILED, retries_done=0, classification=NSF,
        card_fingerprint=f"fp{n}", card_brand="visa", case_id=n, account_id="acct",
        history=(AttemptRecord(f"fp{n}", FAILED, False, NSF, "stripe"),)))
        for n in range(1, count + 1)]
    return cases, contexts


def test_the_prior_decides_until_the_account_has_enough_attempts():
    artifact = Artifact()
    smart = scorer(artifact)
    cases, contexts = items(3)
    smart.prepare(Session(120), cases, FAILED)
    plans = plan_next_retries(contexts, smart)
    assert artifact.calls == []
    assert all(p.scorer_version == "prior-1" for p in plans)
    assert "cold start: decline-aware prior (120 of 500 attempts)" in plans[0].reason


def test_the_artifact_scores_every_case_in_one_batch_and_explains_the_choice():
    artifact = Artifact()
    smart = scorer(artifact)
    cases, contexts = items(40)
    smart.prepare(Session(800), cases, FAILED)
    plans = plan_next_retries(contexts, smart)
    assert len(artifact.calls) == 1 and artifact.calls[0] > 40 * 300  # all hours, one call
    for case_id, plan in enumerate(plans, start=1):
        assert plan.kind == "retry" and plan.at.hour == 15
        assert plan.at >= FAILED + timedelta(hours=24)
        assert plan.scorer_version == "hgb-test-1" and plan.propensity == 1.0
        assert plan.explanation["contributions"][0] == ["utc_hour", 0.55]
        assert plan.explanation["chosen_chance"] == 0.6
        assert plan.features == {"case": case_id, "utc_hour": 15}  # the chosen row
    assert "learned scorer hgb-test-1" in plans[0].reason


def test_without_a_promoted_artifact_the_prior_says_so():
    smart = SmartScorer(min_attempts=10, ml=MlParts(lambda _s, _a: None, lambda *_: {}, frames))
    cases, contexts = items(1)
    smart.prepare(Session(50), cases, FAILED)
    (plan,) = plan_next_retries(contexts, smart)
    assert "no promoted scorer; 50 attempts" in plan.reason
