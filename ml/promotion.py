"""Train a new scorer artifact for an account and promote it only when it earns it.

A new version is always stored (so an operator can look at it or promote it by hand); it becomes
the active one only if, on its own hold-out (the latest attempts), its log loss beats both the
per-decline-class baseline and the active version's on those same rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlmodel import Session

from ml.dataset import attempt_dataset
from ml.features import FEATURE_COLUMNS
from ml.registry import ArtifactRefused, active_artifact, promote, save_artifact
from ml.training import Metrics, evaluate, train

MIN_ATTEMPTS = 500


@dataclass(frozen=True)
class TrainingOutcome:
    account_id: str
    samples: int
    promoted: bool
    reason: str
    version: str | None = None  # the new version, when one was trained
    active_version: str | None = None  # the active version after this run
    metrics: Metrics | None = None  # the new version on the hold-out
    baseline: Metrics | None = None  # decline-class base rates on the hold-out
    active_metrics: Metrics | None = None  # the previously active version on the hold-out
    seconds: float = 0.0  # spent fitting and evaluating (the dataset excluded)


Progress = Callable[[str], None]


def train_and_maybe_promote(session: Session, account_id: str, *, now: datetime,
                            min_attempts: int = MIN_ATTEMPTS,
                            progress: Progress | None = None,
                            keep_rejected: bool = True) -> TrainingOutcome:
    """Build the dataset from attempts before ``now``, train, compare, store, maybe promote.

    ``keep_rejected=False`` (scheduled retraining) stores a new version only when it is
    promoted: a nightly job would otherwise pile up artifacts nobody asked to look at, and
    serialising one costs more than training it."""
    say = progress or (lambda _message: None)
    say("reading the attempt log")
    dataset = attempt_dataset(session, account_id, until=now)
    current = _active_or_none(session, account_id)
    if len(dataset) < min_attempts:
        return TrainingOutcome(
            account_id=account_id, samples=len(dataset), promoted=False,
            active_version=current.version if current else None,
            reason=f"{len(dataset)} attempts on record, fewer than the {min_attempts} needed: "
                   "no model trained")
    if dataset["label"].nunique() < 2:
        return TrainingOutcome(
            account_id=account_id, samples=len(dataset), promoted=False,
            active_version=current.version if current else None,
            reason="every attempt on record had the same outcome: nothing to learn")
    say(f"training on {len(dataset)} attempts")
    started = time.perf_counter()
    result = train(dataset)
    holdout = result.split.holdout
    active_metrics = _evaluate_active(current, holdout)
    seconds = time.perf_counter() - started
    promoted, reason = _verdict(result.metrics, result.baseline, active_metrics, current)
    if not promoted and not keep_rejected:
        return TrainingOutcome(
            account_id=account_id, samples=len(dataset), promoted=False, reason=reason,
            active_version=current.version if current else None, metrics=result.metrics,
            baseline=result.baseline, active_metrics=active_metrics, seconds=seconds)
    say("storing the new version")
    row = save_artifact(session, account_id, result.pipeline,
                        _metadata(result, active_metrics), now)
    if promoted:
        say(f"promoting {row.version}")
        promote(session, account_id, row.version, now)
    return TrainingOutcome(
        account_id=account_id, samples=len(dataset), promoted=promoted, reason=reason,
        version=row.version,
        active_version=row.version if promoted else (current.version if current else None),
        metrics=result.metrics, baseline=result.baseline, active_metrics=active_metrics,
        seconds=seconds)


def _active_or_none(session: Session, account_id: str):
    try:
        return active_artifact(session, account_id)
    except ArtifactRefused:
        return None  # an active artifact this installation cannot load is no competitor


def _evaluate_active(current, holdout: pd.DataFrame) -> Metrics | None:
    if current is None or holdout.empty:
        return None
    predicted = current.predict_success(holdout.loc[:, list(FEATURE_COLUMNS)])
    return evaluate(holdout["label"].to_numpy(), predicted)


def _verdict(new: Metrics, baseline: Metrics, active: Metrics | None,
             current) -> tuple[bool, str]:
    versus_baseline = (f"hold-out log loss {new.log_loss:.4f} vs baseline "
                       f"{baseline.log_loss:.4f}")
    if new.log_loss >= baseline.log_loss:
        return False, f"not promoted: does not beat the decline-class baseline ({versus_baseline})"
    if active is not None and new.log_loss >= active.log_loss:
        return False, (f"not promoted: does not beat the active version {current.version} "
                       f"(hold-out log loss {new.log_loss:.4f} vs {active.log_loss:.4f})")
    against = (f"; active {current.version} {active.log_loss:.4f}" if active is not None
               else "; no active version")
    return True, f"promoted: {versus_baseline}{against}"


def _metadata(result, active_metrics: Metrics | None) -> dict:
    train_rows, holdout = result.split.train, result.split.holdout
    return {
        "training_window": {
            "start": _iso(train_rows["attempted_at"].min()),
            "end": _iso(train_rows["attempted_at"].max()),
            "holdout_start": _iso(holdout["attempted_at"].min()),
            "holdout_end": _iso(holdout["attempted_at"].max()),
        },
        "samples": {"train": len(train_rows), "holdout": len(holdout),
                    "train_success_rate": float(train_rows["label"].mean())},
        "metrics": result.metrics.to_dict(),
        "baseline": result.baseline.to_dict(),
        "active_on_holdout": active_metrics.to_dict() if active_metrics else None,
        "reference": result.reference,
    }


def _iso(value) -> str | None:
    return None if pd.isna(value) else pd.Timestamp(value).isoformat()
