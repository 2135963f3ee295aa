"""Off-policy estimators on synthetic logs whose truth is known.

The synthetic account: each case gets three retry decisions from an exploring logging policy
(the greedy hour with probability 1 - share, else uniform over a safe set of 39 hours over three
days; the greedy hour falls on the candidate's day for most cases), a known chance of success
per case and day, and a customer who pays on their own with a known chance at a uniform time in
the 30 days (their attempts after it never run). The candidate retries at 14:00 on days 2, 5
and 8; its window of +-6 hours covers each day's allowed hours, on which the chance is
constant, so the estimators' window approximation is exact here.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from recovery.scoring.evaluation import (
    INFINITY,
    LoggedDecision,
    estimate,
    landing_probability,
    recovery_chance,
    trajectory_weight,
)
from recovery.scoring.exploration import choice_distribution, hour_runs

DAYS = ((1, 2, 3), (4, 5, 6), (7, 8, 9))  # the days each decision may pick from
CANDIDATE = [24 * day + 14 for day in (2, 5, 8)]
HALF_WIDTH = 6.0
SHARE = 0.5
DAY_FACTOR = np.array([0, 0.6, 1.4, 0.8, 1.2, 0.5, 1.0, 0.7, 1.3, 0.9])
NO_RETRY = 0.15
GREEDY_ON_CANDIDATE_DAY = 0.7


def options(decision: int) -> np.ndarray:
    return np.array([24 * d + h for d in DAYS[decision] for h in range(8, 21)], dtype=float)


def chance(base: float, hour: float) -> float:
    return min(base * DAY_FACTOR[int(hour // 24)], 0.95)


def simulate_log(n: int, seed: int, agreeing: float = GREEDY_ON_CANDIDATE_DAY) -> dict:
    """The logged cases, their outcome, and the candidate's true recovery chance per case."""
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(n):
        base = rng.uniform(0.1, 0.4)
        pays = rng.random() < NO_RETRY
        paid_at = rng.uniform(0, 30 * 24) if pays else INFINITY
        decisions, recovered_by_retry, logged_times = [], False, []
        for k in range(3):
            hours = options(k)
            # The greedy hour falls on the candidate's day for most cases, as a logging policy
            # that mostly agrees with the candidate would have it.
            day = 1 if rng.random() < agreeing else int(rng.choice([0, 2]))
            greedy = 13 * day + int(rng.integers(13))
            explored = rng.random() < SHARE
            index = int(rng.integers(hours.size)) if explored else greedy
            propensity = SHARE / hours.size + (1 - SHARE if index == greedy else 0.0)
            at = float(hours[index])
            runs = tuple(tuple(run) for run in hour_runs(hours.astype(np.int64)))
            executed = at < paid_at
            decisions.append(LoggedDecision(
                at=at, executed=executed, propensity=propensity, greedy_at=float(hours[greedy]),
                exploration=SHARE, safe_hours=runs, safe_set_size=hours.size,
                explored=index != greedy))
            if not executed:
                break
            logged_times.append(at)
            if rng.random() < chance(base, at):
                recovered_by_retry = True
                break
        truth = 1 - (1 - NO_RETRY) * np.prod([1 - chance(base, t) for t in CANDIDATE])
        cases.append(dict(base=base, decisions=decisions, retry=recovered_by_retry,
                          outcome=float(recovered_by_retry or pays), truth=truth,
                          horizon=INFINITY if recovered_by_retry or not pays else paid_at,
                          logged=logged_times))
    return cases


def estimates_of(cases, model=chance, resamples=300, seed=0):
    weights = np.array([trajectory_weight(CANDIDATE, c["decisions"], retry_recovered=c["retry"],
                                          horizon=c["horizon"], half_width=HALF_WIDTH)
                        for c in cases])
    q = np.full(len(cases), NO_RETRY)
    direct = recovery_chance(q, [[model(c["base"], t) for t in CANDIDATE] for c in cases])
    logged = recovery_chance(q, [[model(c["base"], t) for t in
                                  c["logged"] + CANDIDATE[len(c["logged"]):]] for c in cases])
    outcome = np.array([c["outcome"] for c in cases])
    return estimate(outcome, weights, direct, logged, resamples=resamples, seed=seed), weights


def truth_of(cases) -> float:
    return float(np.mean([c["truth"] for c in cases]))


def test_ipw_and_dr_cover_the_truth_and_the_weights_average_one():
    cases = simulate_log(3000, seed=7, agreeing=0.9)  # a log that covers the candidate well
    found, weights = estimates_of(cases, model=lambda _base, _t: 0.2)  # a wrong outcome model
    truth = truth_of(cases)
    assert found.ipw.covers(truth), (found.ipw, truth)
    assert found.doubly_robust.covers(truth), (found.doubly_robust, truth)
    assert not found.direct.covers(truth)  # the wrong model alone misses it
    assert abs(weights.mean() - 1) < 0.15  # importance weights average one
    assert 0 < found.matched < len(cases) and found.effective_sample_size < found.matched


def test_the_direct_method_is_exact_with_the_true_outcome_function():
    cases = simulate_log(500, seed=3)
    found, _ = estimates_of(cases)
    assert math.isclose(found.direct.estimate, truth_of(cases), rel_tol=1e-12)
    assert found.doubly_robust.covers(truth_of(cases))


def test_intervals_cover_the_truth_at_about_their_rate():
    covered = {"ipw": 0, "dr": 0}
    runs = 30
    for seed in range(runs):
        cases = simulate_log(400, seed=100 + seed)
        found, _ = estimates_of(cases, model=lambda base, t: chance(base, t) * 0.8,
                                resamples=200, seed=seed)
        truth = truth_of(cases)
        covered["ipw"] += found.ipw.covers(truth)
        covered["dr"] += found.doubly_robust.covers(truth)
    assert covered["ipw"] / runs >= 0.7 and covered["dr"] / runs >= 0.7, covered


def deterministic(*hours: float, executed: bool = True) -> list[LoggedDecision]:
    return [LoggedDecision(at=h, executed=executed) for h in hours]


def test_weights_are_zero_when_the_candidate_leaves_the_logged_path():
    logged = deterministic(60.0, 130.0, 206.0)  # the candidate: 62, 134, 206
    # Within the window every step: matched, weight 1 for a deterministic log.
    assert trajectory_weight(CANDIDATE, logged, retry_recovered=False,
                             half_width=HALF_WIDTH) == 1.0
    # One attempt outside the window.
    assert trajectory_weight([62.0, 150.0, 206.0], logged, retry_recovered=False,
                             half_width=HALF_WIDTH) == 0.0
    # The candidate stops earlier, or makes an attempt the log never made.
    assert trajectory_weight(CANDIDATE[:2], logged, retry_recovered=False,
                             half_width=HALF_WIDTH) == 0.0
    assert trajectory_weight([*CANDIDATE, 300.0], logged, retry_recovered=False,
                             half_width=HALF_WIDTH) == 0.0
    # Recovered by the second retry: what the candidate does afterwards does not matter.
    assert trajectory_weight([62.0, 134.0, 400.0], logged[:2], retry_recovered=True,
                             half_width=HALF_WIDTH) == 1.0
    # The customer paid at hour 100 after one retry: the candidate's second comes after it,
    # fine; at hour 150, its second would have run before the payment and the log's did not.
    assert trajectory_weight(CANDIDATE, logged[:1], retry_recovered=False, horizon=100.0,
                             half_width=HALF_WIDTH) == 1.0
    assert trajectory_weight(CANDIDATE, logged[:1], retry_recovered=False, horizon=150.0,
                             half_width=HALF_WIDTH) == 0.0
    # An exploring decision that landed in the window: weighted by its chance of doing so.
    explored = LoggedDecision(at=130.0, propensity=0.1 / 13, greedy_at=200.0, exploration=0.1,
                              safe_hours=((128, 140),), safe_set_size=13, explored=True)
    weight = trajectory_weight(CANDIDATE, [logged[0], explored, logged[2]],
                               retry_recovered=False, half_width=HALF_WIDTH)
    assert math.isclose(weight, 1 / (0.1 * 13 / 13))


def test_landing_probability_is_the_exploring_policys_chance_of_the_window():
    values = np.array([0.1, 0.5, 0.45, 0.2, 0.48, 0.5, 0.05, 0.4, 0.49])
    hours = np.array([100, 101, 102, 110, 111, 130, 131, 132, 150])
    greedy = 1
    distribution = choice_distribution(values, greedy, SHARE)
    safe = np.flatnonzero(distribution > 0)
    decision = LoggedDecision(
        at=float(hours[2]), propensity=float(distribution[2]), greedy_at=float(hours[greedy]),
        exploration=SHARE, safe_hours=tuple(tuple(r) for r in hour_runs(hours[safe])),
        safe_set_size=safe.size, explored=True)
    for low, high in ((95, 105), (109, 112), (120, 160), (0, 1000)):
        inside = (hours >= low) & (hours <= high)
        assert math.isclose(landing_probability(decision, low, high),
                            distribution[inside].sum()), (low, high)


def test_hour_runs_are_consecutive_stretches():
    assert hour_runs(np.array([5, 6, 7, 10, 12, 13])) == [[5, 7], [10, 10], [12, 13]]
    assert hour_runs(np.array([], dtype=np.int64)) == []


@pytest.mark.parametrize("explored", [False, True])
def test_the_approximation_for_logs_without_the_safe_set_is_a_probability(explored):
    decision = LoggedDecision(at=100.0, propensity=0.9 if not explored else 0.01,
                              safe_set_size=10, explored=explored)
    mu = landing_probability(decision, 88.0, 112.0)
    assert decision.propensity <= mu <= 1.0
