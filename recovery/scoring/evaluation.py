"""Off-policy estimates of a candidate retry policy's recovery rate: the math, on plain arrays.

Pure (numpy only; no database): ``recovery.scoring.logged_history`` gathers the inputs.

Times are hours since the epoch (floats). A case's logged retry path is a list of
``LoggedDecision``s: the retries the logging policy made, and possibly the one it had planned
when the case left the retry path (the customer paid, changed the card, canceled) and that never
ran. The candidate's path is its attempt times, replayed with the real planning function.

Matching (``trajectory_weight``): the candidate's k-th attempt matches the logged k-th when they
are within ``half_width`` hours of each other. Treating any time in that window as the same
action is the estimator's approximation (the kernel), a trade of bias for far more matched cases.
A case's weight is the product over the logging decisions up to the end of its retry path of
1[matched] / mu, where mu is the logging policy's probability of landing in the matched set:

- a deterministic decision (a fixed schedule, propensity 1; a smart decision not to retry): 1;
- a smart decision that logged its exploration (``greedy_at``, ``exploration`` share and the safe
  set as runs of hours): exactly (1 - share) * 1[greedy in the set] + share * |safe in set| /
  |safe|, the exploring policy of ``recovery.scoring.exploration``;
- an older smart decision that logged only its propensity p and safe-set size n: approximately.
  The share comes from p (explored: share = p * n; greedy: share = (1 - p) / (1 - 1/n)), the
  greedy hour is taken to be in the window only when the decision was greedy, and the safe set is
  taken to crowd around the chosen hour with ``ALLOWED_PER_DAY`` allowed hours a day, so
  |safe in window| ~ min(n, window hours * 13 / 24). Rough: it errs both ways.

After the last logged attempt, when the case left the retry path at ``horizon`` for a reason
the retry times do not decide (assumed exogenous: the customer's own payment, a card update, a
cancellation), the candidate matches if it too makes no attempt before the horizon, weighted by
the logging policy's chance of having made none before it either.

Estimators (``estimate``): direct method (the outcome model alone), self-normalised inverse
propensity weighting, and doubly robust; percentile intervals by a seeded, vectorised bootstrap
over cases.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

INFINITY = math.inf
ALLOWED_PER_DAY = 13  # hours a day outside the default quiet hours (21:00-08:00)
DETERMINISTIC = 1.0 - 1e-9


@dataclass(frozen=True)
class LoggedDecision:
    """One logging decision: when it retried (or planned to), and how it chose that hour."""

    at: float | None  # hours since the epoch; None: decided not to retry
    executed: bool = True  # False: planned, then the case left the retry path first
    propensity: float = 1.0  # the chosen hour's probability as logged
    greedy_at: float | None = None
    exploration: float | None = None
    safe_hours: tuple[tuple[int, int], ...] | None = None  # runs [first, last] of epoch hours
    safe_set_size: int | None = None
    explored: bool = False


def landing_probability(decision: LoggedDecision, low: float, high: float) -> float:
    """The logging policy's probability that this decision picked an hour in [low, high]."""
    if decision.propensity >= DETERMINISTIC or decision.at is None:
        return 1.0
    if decision.safe_hours is not None and decision.exploration is not None:
        share = float(decision.exploration)
        greedy_in = decision.greedy_at is not None and low <= decision.greedy_at <= high
        total = sum(last - first + 1 for first, last in decision.safe_hours)
        inside = sum(max(0, math.floor(min(last, high)) - math.ceil(max(first, low)) + 1)
                     for first, last in decision.safe_hours)
        return (1 - share) * greedy_in + share * inside / max(total, 1)
    return _approximate_landing(decision, low, high)


def _approximate_landing(decision: LoggedDecision, low: float, high: float) -> float:
    size = max(int(decision.safe_set_size or 1), 1)
    p = float(decision.propensity)
    if size == 1:
        return 1.0
    share = min(p * size, 1.0) if decision.explored else (1 - p) / (1 - 1 / size)
    hours = min(high, low + 24 * 31) - low + 1  # an open-ended set: the whole window
    inside = min(size, max(1.0, hours * ALLOWED_PER_DAY / 24))
    greedy_in = 0.0 if decision.explored else 1.0
    return max(p, (1 - share) * greedy_in + share * inside / size)


def trajectory_weight(candidate: Sequence[float], logged: Sequence[LoggedDecision], *,
                      retry_recovered: bool, horizon: float = INFINITY,
                      half_width: float = 12.0) -> float:
    """The case's importance weight: 0 when the candidate's path leaves the logged one."""
    made = [d for d in logged if d.executed]
    weight = 1.0
    for k, decision in enumerate(made):
        if k >= len(candidate) or candidate[k] >= horizon \
                or abs(candidate[k] - decision.at) > half_width:
            return 0.0
        low, high = candidate[k] - half_width, candidate[k] + half_width
        weight /= landing_probability(decision, low, min(high, horizon - 1e-9))
    if retry_recovered:
        return weight  # the last logged attempt succeeded: nothing after it matters
    following = candidate[len(made)] if len(candidate) > len(made) else None
    if following is not None and following < horizon:
        return 0.0  # the candidate retries where the log did not: its outcome is unknown
    pending = next((d for d in logged if not d.executed), None)
    if pending is None or pending.at is None:
        return weight  # the logging policy planned no further retry either
    if pending.at < horizon:
        return 0.0
    return weight / landing_probability(pending, horizon, INFINITY)


def recovery_chance(without_retry: np.ndarray, chances: Sequence[Sequence[float]]) -> np.ndarray:
    """Per case, 1 - (1 - q) * prod_k (1 - p_k): recovered without a retry or by one of them."""
    failing = np.array([float(np.prod(1.0 - np.asarray(p, dtype=np.float64))) for p in chances])
    return 1.0 - (1.0 - np.asarray(without_retry, dtype=np.float64)) * failing


def no_retry_rates(decline_class: Sequence[str], recovered: np.ndarray,
                   retry_recovered: np.ndarray, smoothing: float = 5.0) -> np.ndarray:
    """q per case: the share of its decline class recovered without a retry, among the cases
    a retry did not recover (smoothed toward the overall share)."""
    classes = np.asarray(decline_class, dtype=object)
    eligible = ~np.asarray(retry_recovered, dtype=bool)
    outcome = np.asarray(recovered, dtype=np.float64)
    overall = float(outcome[eligible].mean()) if eligible.any() else 0.0
    rates = {}
    for name in set(classes.tolist()):
        mine = eligible & (classes == name)
        rates[name] = (outcome[mine].sum() + smoothing * overall) / (mine.sum() + smoothing)
    return np.array([rates[name] for name in classes.tolist()], dtype=np.float64)


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float

    def covers(self, value: float) -> bool:
        return self.low <= value <= self.high


@dataclass(frozen=True)
class Estimates:
    cases: int
    matched: int  # cases with a positive weight
    effective_sample_size: float  # (sum w)^2 / sum w^2
    direct: Interval
    ipw: Interval
    doubly_robust: Interval


def estimate(outcome: np.ndarray, weight: np.ndarray, direct: np.ndarray,
             logged_prediction: np.ndarray, *, resamples: int = 400, seed: int = 0,
             level: float = 0.95) -> Estimates:
    """DM, self-normalised IPW and DR of the candidate's recovery rate, with bootstrap intervals.

    ``outcome``: Y per case; ``weight``: ``trajectory_weight``; ``direct``: the model's recovery
    chance under the candidate; ``logged_prediction``: the same at the logged attempt times."""
    y, w = np.asarray(outcome, dtype=np.float64), np.asarray(weight, dtype=np.float64)
    dm, yhat = np.asarray(direct, dtype=np.float64), np.asarray(logged_prediction, np.float64)
    dr = dm + w * (y - yhat)
    rng = np.random.default_rng(seed)
    n = len(y)
    # Each resample as how many times it draws each case: every estimator is then a product.
    counts = (rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(np.float64)
              if n else np.zeros((resamples, 0)))
    tail = (1 - level) / 2

    def interval(point: float, boot: np.ndarray) -> Interval:
        boot = boot[np.isfinite(boot)]
        if boot.size == 0 or not np.isfinite(point):
            return Interval(point, math.nan, math.nan)
        low, high = np.quantile(boot, [tail, 1 - tail])
        return Interval(float(point), float(low), float(high))

    with np.errstate(invalid="ignore", divide="ignore"):
        ipw_point = float((w * y).sum() / w.sum()) if w.sum() > 0 else math.nan
        ipw_boot = (counts @ (w * y)) / (counts @ w)
    total = w.sum()
    return Estimates(
        cases=n, matched=int((w > 0).sum()),
        effective_sample_size=float(total ** 2 / (w ** 2).sum()) if total > 0 else 0.0,
        direct=interval(float(dm.mean()) if n else math.nan, counts @ dm / max(n, 1)),
        ipw=interval(ipw_point, ipw_boot),
        doubly_robust=interval(float(dr.mean()) if n else math.nan, counts @ dr / max(n, 1)),
    )
