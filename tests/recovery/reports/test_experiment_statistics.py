"""The experiment's statistics hold their stated error rates: known values from the literature,
and seeded simulations of A/A and A/B experiments."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recovery.reports.experiment_statistics import (
    Interval,
    mean_difference,
    proportion,
    proportion_difference,
    sequential_test,
    wilson_interval,
)
from recovery.rules.experiment_assignment import Arm

ALPHA = 0.05


def binomial_tolerance(rate: float, runs: int) -> float:
    """Three standard errors of a rate measured over ``runs`` simulated experiments."""
    return 3 * math.sqrt(rate * (1 - rate) / runs)


@pytest.mark.parametrize(("successes", "trials", "confidence"), [
    (8, 10, 0.95), (0, 20, 0.95), (20, 20, 0.9), (137, 412, 0.99), (1, 3, 0.8)])
def test_wilson_interval_agrees_with_scipy(successes, trials, confidence):
    from scipy import stats

    low, high = stats.binomtest(successes, trials).proportion_ci(confidence, method="wilson")
    interval = wilson_interval(successes, trials, confidence=confidence)
    assert (interval.low, interval.high) == (pytest.approx(low), pytest.approx(high))


def test_wilson_interval_matches_the_textbook_value():
    interval = wilson_interval(8, 10)
    assert (round(interval.low, 4), round(interval.high, 4)) == (0.4902, 0.9433)
    assert wilson_interval(0, 0) == Interval(0.0, 1.0, 0.95)
    assert wilson_interval(0, 20).low == 0.0 and wilson_interval(0, 20).high > 0.1


def test_newcombe_interval_matches_newcombes_worked_example():
    """Newcombe (1998), table II, example (a): 56/70 against 48/80, method 10."""
    difference = proportion_difference(control=proportion(48, 80),
                                       treatment=proportion(56, 70))
    assert difference.estimate == pytest.approx(0.2)
    assert (round(difference.interval.low, 4), round(difference.interval.high, 4)) == (
        0.0524, 0.3339)


def test_counts_that_cannot_be_are_refused():
    with pytest.raises(ValueError):
        wilson_interval(5, 4)
    with pytest.raises(ValueError):
        sequential_test([1, 5], [2, 4], [0, 1], [1, 2])
    with pytest.raises(ValueError, match="one value per look"):
        sequential_test([1, 2], [2, 3], [1], [2])
    with pytest.raises(ValueError):
        proportion_difference(proportion(1, 2, confidence=0.9), proportion(1, 2))


def test_welch_interval_is_the_t_interval_with_satterthwaite_degrees_of_freedom():
    from scipy import stats

    control, treatment = [1.0, 2.0, 3.0, 4.0], [2.0, 3.0, 5.0, 9.0]
    difference = mean_difference(control, treatment)
    variance = np.var(treatment, ddof=1) / 4 + np.var(control, ddof=1) / 4
    freedom = variance**2 / ((np.var(treatment, ddof=1) / 4) ** 2 / 3
                             + (np.var(control, ddof=1) / 4) ** 2 / 3)
    half = stats.t.ppf(0.975, freedom) * math.sqrt(variance)
    assert difference.estimate == pytest.approx(2.25)
    assert difference.interval.low == pytest.approx(2.25 - half)
    assert difference.interval.high == pytest.approx(2.25 + half)
    assert mean_difference([5.0], [1.0, 2.0]).interval is None
    assert mean_difference([], [1.0]).interval is None
    assert mean_difference([3.0, 3.0], [5.0, 5.0]).interval == Interval(2.0, 2.0, 0.95)


def newcombe_coverage(rng, control_rate: float, treatment_rate: float, *, runs: int,
                      cases: int) -> float:
    control = rng.binomial(cases, control_rate, runs)
    treatment = rng.binomial(cases, treatment_rate, runs)
    covered = sum(
        proportion_difference(proportion(int(c), cases), proportion(int(t), cases))
        .interval.contains(treatment_rate - control_rate)
        for c, t in zip(control, treatment, strict=True))
    return covered / runs


@pytest.mark.parametrize(("control_rate", "treatment_rate"), [(0.3, 0.3), (0.55, 0.65)])
def test_the_95_percent_interval_covers_the_true_difference_95_percent_of_the_time(
        control_rate, treatment_rate):
    runs = 2_000
    coverage = newcombe_coverage(np.random.default_rng(20261212), control_rate, treatment_rate,
                                 runs=runs, cases=300)
    assert abs(coverage - 0.95) <= binomial_tolerance(0.95, runs), coverage


def test_the_welch_interval_covers_the_true_revenue_difference_on_a_a_data():
    """Per-case recovered amounts: recovered or not, then a skewed (log-normal) invoice."""
    rng = np.random.default_rng(2026)
    runs, cases = 1_000, 400

    def amounts():
        return rng.binomial(1, 0.5, cases) * np.round(rng.lognormal(7.5, 0.8, cases))

    covered = sum(mean_difference(amounts(), amounts()).interval.contains(0.0)
                  for _ in range(runs))
    assert abs(covered / runs - 0.95) <= binomial_tolerance(0.95, runs)


def simulate_looks(rng, control_rate: float, treatment_rate: float, *, looks: int,
                   cases_per_look: int):
    """Cumulative (control successes, treatment successes, cases per arm) at each look."""
    control = np.cumsum(rng.binomial(cases_per_look, control_rate, looks))
    treatment = np.cumsum(rng.binomial(cases_per_look, treatment_rate, looks))
    return control, treatment, cases_per_look * np.arange(1, looks + 1)


def naive_z_test_ever_significant(control, treatment, trials) -> bool:
    """A fixed-horizon two-proportion z-test read at every look, as if each were the last."""
    pooled = (control + treatment) / (2 * trials)
    spread = np.sqrt(pooled * (1 - pooled) * 2 / trials)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (treatment - control) / trials / spread
    return bool(np.any(np.abs(np.nan_to_num(z)) > 1.959964))


def test_peeking_after_every_batch_keeps_the_sequential_tests_false_positives_under_alpha():
    """A/A: 1,500 experiments, each read after every one of 40 batches of 25 cases per arm.
    The sequential test stops wrongly in at most alpha of them; the naive z-test, read the same
    way, stops wrongly far more often."""
    rng = np.random.default_rng(424242)
    runs = 1_500
    sequential_stops = naive_stops = 0
    for _ in range(runs):
        control, treatment, trials = simulate_looks(rng, 0.4, 0.4, looks=40, cases_per_look=25)
        sequential_stops += sequential_test(control, trials, treatment, trials,
                                            alpha=ALPHA).stop
        naive_stops += naive_z_test_ever_significant(control, treatment, trials)
    assert sequential_stops / runs <= ALPHA + binomial_tolerance(ALPHA, runs)
    assert naive_stops / runs > 3 * ALPHA, naive_stops / runs


def test_the_confidence_sequence_covers_the_true_difference_at_every_look_at_once():
    rng = np.random.default_rng(99)
    runs, missed = 400, 0
    for _ in range(runs):
        control, treatment, trials = simulate_looks(rng, 0.5, 0.6, looks=30, cases_per_look=20)
        missed += any(
            not sequential_test(control[look], trials[look], treatment[look], trials[look])
            .interval.contains(0.1) for look in range(30))
    assert missed / runs <= ALPHA + binomial_tolerance(ALPHA, runs)


def test_the_sequential_test_finds_a_ten_point_gain_and_names_the_treatment():
    rng = np.random.default_rng(5)
    runs, found = 300, 0
    for _ in range(runs):
        control, treatment, trials = simulate_looks(rng, 0.4, 0.5, looks=40, cases_per_look=25)
        result = sequential_test(control, trials, treatment, trials)
        if result.stop:
            found += 1
            assert result.winner == result.leader == Arm.treatment
    assert found / runs >= 0.9, found / runs


def test_the_p_value_never_rises_and_matches_its_confidence_sequence():
    rng = np.random.default_rng(11)
    control, treatment, trials = simulate_looks(rng, 0.3, 0.45, looks=20, cases_per_look=30)
    p_values = [sequential_test(control[:n], trials[:n], treatment[:n], trials[:n]).p_value
                for n in range(1, 21)]
    assert p_values == sorted(p_values, reverse=True)
    for look in range(20):
        single = sequential_test(control[look], trials[look], treatment[look], trials[look])
        assert (single.p_value <= ALPHA) == (not single.interval.contains(0.0))


def test_no_case_in_an_arm_is_no_evidence():
    result = sequential_test([0, 3], [0, 5], [2, 4], [4, 8])
    assert result.looks == 1
    empty = sequential_test([], [], [], [])
    assert (empty.p_value, empty.stop, empty.winner, empty.looks) == (1.0, False, None, 0)
    level = sequential_test(5, 10, 5, 10)
    assert (level.leader, level.winner) == (None, None)
    ahead = sequential_test(5, 10, 6, 10)
    assert (ahead.leader, ahead.stop, ahead.winner) == (Arm.treatment, False, None)
    with pytest.raises(ValueError):
        sequential_test(1, 2, 1, 2, alpha=0)
