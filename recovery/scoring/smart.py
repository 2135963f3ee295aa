"""The smart scorer: per account, the learned artifact once it has enough history, else the
decline-aware prior; expected-value choice over the remaining attempts; logged exploration.

``prepare`` reads, for a planning batch, each account's attempt count and promoted artifact and
the cases' decision snapshots (``ml.history``) in a few queries; ``choose_many`` scores all the
learned cases' candidate hours in batched predictions and answers each question with a
``Choice``: the hour (or none), its propensity, a reason and an explanation.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import func
from sqlmodel import select

from models import ChargeAttempt
from recovery.rules.local_time import epoch_hours, from_epoch_hour
from recovery.rules.policy import Choice, RetryQuestion
from recovery.scoring import exploration
from recovery.scoring.decision import Economics, choose_hour
from recovery.scoring.prior import PriorInputs, prior_chances

PRIOR_VERSION = "prior-1"
DEFAULT_MIN_ATTEMPTS = 500


@dataclass(frozen=True)
class MlParts:
    """The ``ml`` functions the scorer uses (``ml.registry``, ``ml.history``, ``ml.features``)."""

    active_artifact: Callable[[Any, str], Any]
    snapshots_for_cases: Callable[[Any, str, Sequence[int], datetime], dict]
    candidate_frames: Callable[[Sequence[tuple]], Any]


@dataclass
class AccountState:
    attempts: int
    artifact: Any | None  # the promoted artifact, used once the account has enough attempts


@dataclass
class SmartScorer:
    min_attempts: int = DEFAULT_MIN_ATTEMPTS
    economics: Economics = field(default_factory=Economics)
    ml: MlParts | None = None
    explain_contributions: bool = True
    version: str = "smart-1"
    accounts: dict[str, AccountState] = field(default_factory=dict)
    snapshots: dict[int, Any] = field(default_factory=dict)

    def prepare(self, session: Any, cases: Sequence[Any], now: datetime) -> None:
        """Read each account's attempt count and artifact, and the cases' snapshots."""
        self.accounts, self.snapshots = {}, {}
        by_account: dict[str, list[int]] = defaultdict(list)
        for case in cases:
            by_account[case.account_id].append(case.id)
        for account_id, case_ids in by_account.items():
            attempts = session.exec(select(func.count()).select_from(ChargeAttempt).where(
                ChargeAttempt.account_id == account_id)).one()
            artifact = self.ml.active_artifact(session, account_id) if self.ml else None
            self.accounts[account_id] = AccountState(int(attempts), artifact)
            if self.ml is not None:
                self.snapshots.update(self.ml.snapshots_for_cases(session, account_id,
                                                                  case_ids, now))

    def choose(self, context: RetryQuestion, candidates: np.ndarray) -> Choice:
        return self.choose_many([context])[0]

    def choose_many(self, questions: Sequence[RetryQuestion]) -> list[Choice]:
        answers: list[Choice | None] = [None] * len(questions)
        learned_items: dict[int, list[int]] = defaultdict(list)  # artifact id -> questions
        artifacts: dict[int, Any] = {}
        for index, question in enumerate(questions):
            artifact = self._artifact_for(question)
            if artifact is None:
                answers[index] = self._by_prior(question)
            else:
                artifacts[id(artifact)] = artifact
                learned_items[id(artifact)].append(index)
        for key, indexes in learned_items.items():
            self._by_artifact(artifacts[key], [questions[i] for i in indexes], indexes, answers)
        return answers  # type: ignore[return-value]

    def _state(self, question: RetryQuestion) -> AccountState:
        return self.accounts.get(question.context.account_id or "", AccountState(0, None))

    def _artifact_for(self, question: RetryQuestion) -> Any | None:
        state = self._state(question)
        has_snapshot = question.context.case_id in self.snapshots
        if state.artifact is None or state.attempts < self.min_attempts or not has_snapshot:
            return None
        return state.artifact

    def _cold_start(self, question: RetryQuestion) -> str:
        state = self._state(question)
        if state.attempts < self.min_attempts:
            return (f"cold start: decline-aware prior ({state.attempts} of {self.min_attempts}"
                    " attempts)")
        return f"cold start: decline-aware prior (no promoted scorer; {state.attempts} attempts)"

    def _by_prior(self, question: RetryQuestion) -> Choice:
        ctx = question.context
        snapshot = self.snapshots.get(ctx.case_id)
        label = ctx.classification
        inputs = PriorInputs(
            decline_code=label.code if label else None,
            decline_class=label.decline_class.value if label else None,
            first_failed_at=ctx.first_failed_at, timezone=ctx.timezone,
            attempt_number=snapshot.attempt_number if snapshot else ctx.retries_done + 2,
            paid_days_of_month=snapshot.history.paid_days_of_month if snapshot else (),
            last_attempt_at=snapshot.last_attempt_at if snapshot else _latest_attempt(ctx))
        curve = prior_chances(inputs, question.candidates)
        return self._decide(question, curve.chances, PRIOR_VERSION, self._cold_start(question),
                            lambda i: {k: round(float(v[i]), 4) for k, v in curve.factors.items()},
                            lambda i: [[k, round(float(v[i]), 4)] for k, v in curve.factors.items()
                                       if k != "decline"])

    def _by_artifact(self, artifact: Any, questions: list[RetryQuestion], indexes: list[int],
                     answers: list) -> None:
        from recovery.scoring import learned  # noqa: PLC0415 - pandas only once a model scores

        items = [(self.snapshots[q.context.case_id], q.candidates) for q in questions]
        for chunk in learned.score_in_chunks(artifact, self.ml.candidate_frames, items):
            chosen_rows = {}  # answer index -> the chosen row of the chunk's frame
            for position, item in enumerate(chunk.items):
                question, start = questions[item], chunk.starts[position]
                choice = self._decide(
                    question, chunk.chances[position], str(artifact.version),
                    f"learned scorer {artifact.version}", lambda _i: None, lambda _i: [])
                answers[indexes[item]] = choice
                if choice.at is not None:
                    chosen_rows[indexes[item]] = start + int(np.searchsorted(
                        question.candidates, round(epoch_hours(choice.at))))
            # The chosen rows' features, read from the frame together (row by row costs more
            # than the prediction).
            rows = learned.rows_features(chunk.frame, list(chosen_rows.values()))
            for index, features in zip(chosen_rows, rows, strict=True):
                answers[index] = replace(answers[index], features=features)
            if self.explain_contributions and chosen_rows:
                # One explaining call for the chunk's choices, not one per case.
                found = learned.top_contributions(artifact, chunk.frame, list(chosen_rows.values()))
                for index, contributions in zip(chosen_rows, found, strict=True):
                    answers[index].explanation["contributions"] = contributions

    def _decide(self, question: RetryQuestion, chances: np.ndarray, version: str, source: str,
                features_of: Callable[[int], dict], contributions_of: Callable[[int], list]
                ) -> Choice:
        ctx, policy = question.context, question.policy
        after = question.candidates - epoch_hours(ctx.now)
        valuation = choose_hour(chances, after, question.retries_left,
                                policy.min_hours_between_attempts, self.economics)
        summary = curve_summary(question, chances)
        if valuation.best is None:
            reason = (f"best chance {summary['best_chance']:.0%} in the window is below what "
                      f"an attempt costs; {source}")
            return Choice(None, 1.0, reason, {**summary, "source": source}, version)
        seed = f"{ctx.case_id}:{ctx.card_fingerprint}:{ctx.now.isoformat()}"
        picked = exploration.draw(valuation.values, valuation.best, policy.exploration, seed)
        at = from_epoch_hour(question.candidates[picked.index])
        chance = float(chances[picked.index])
        explored = picked.index != valuation.best
        explanation = {
            **summary, "source": source, "chosen_at": at.isoformat(),
            "chosen_chance": round(chance, 4), "hours_after_now": round(float(
                after[picked.index]), 1), "value": round(float(valuation.values[picked.index]),
                                                         4),
            "explored": explored, "safe_set": picked.safe_set_size,
            "propensity": round(picked.propensity, 6),
            # What off-policy evaluation needs to know the chance of landing near any time:
            # the greedy hour, the exploration share and the safe set (runs of epoch hours).
            "greedy_at": from_epoch_hour(question.candidates[valuation.best]).isoformat(),
            "exploration": policy.exploration,
            "safe_hours": exploration.hour_runs(question.candidates[exploration.safe_set(
                valuation.values, valuation.best)]),
            "contributions": contributions_of(picked.index)}
        reason = f"smart: chance {chance:.0%} (best {summary['best_chance']:.0%})" + (
            ", exploring" if explored else "") + f"; {source}"
        return Choice(at, picked.propensity, reason, explanation, version,
                      features_of(picked.index))


def _latest_attempt(ctx: Any) -> datetime | None:
    return max((attempt.at for attempt in ctx.history), default=None)


def curve_summary(question: RetryQuestion, chances: np.ndarray) -> dict[str, Any]:
    """The score curve in a few numbers: best chance and when, the fixed schedule's, quantiles."""
    best = int(np.argmax(chances))
    ordered = np.sort(chances)
    quantiles = ordered[((ordered.size - 1) * np.array([0.1, 0.5, 0.9])).astype(int)]
    summary: dict[str, Any] = {
        "candidates": int(chances.size), "best_chance": round(float(chances[best]), 4),
        "best_at": from_epoch_hour(question.candidates[best]).isoformat(),
        "quantiles": {"p10": round(float(quantiles[0]), 4), "p50": round(float(quantiles[1]), 4),
                      "p90": round(float(quantiles[2]), 4)},
        "fixed_at": None, "fixed_chance": None}
    if question.fixed_at is not None:
        index = int(np.searchsorted(question.candidates, epoch_hours(question.fixed_at) - 1e-9))
        index = min(index, chances.size - 1)
        summary["fixed_at"] = question.fixed_at.isoformat()
        summary["fixed_chance"] = round(float(chances[index]), 4)
    return summary
