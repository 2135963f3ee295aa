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
    ratio_difference,
    ratio_of_sums,
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


def test_the_rate_by_amount_and_its_interval_by_hand():
    """Five cases due 1000, 1000, 2000, 4000, 2000; the first, third and fourth recovered.
    R = 7000 / 10000 = 0.7; residuals y - R x = 300, -700, 600, 1200, -1400, whose squares add
    to 4,340,000; Var(R) = 4,340,000 / (5 * 4) / 2000^2 = 0.05425, so se = 0.232916. With
    t(0.975, 4 df) = 2.776445 the log-odds interval is logit(0.7) -+ 2.776445 * 0.232916 / 0.21
    = 0.847298 -+ 3.079425, which is [0.096902, 0.980673] back on the rate's scale."""
    rate = ratio_of_sums([1000, 0, 2000, 4000, 0], [1000, 1000, 2000, 4000, 2000])
    assert (rate.numerator, rate.denominator, rate.cases, rate.rate) == (7000, 10000, 5, 0.7)
    assert rate.standard_error == pytest.approx(math.sqrt(0.05425))
    assert (round(rate.interval.low, 6), round(rate.interval.high, 6)) == (0.096902, 0.980673)


def test_every_case_recovered_falls_back_to_wilson_on_the_effective_number_of_cases():
    """No residual spread: Wilson's interval at a rate of 1 is [n / (n + t^2), 1]; ten equal
    invoices are ten effective cases, and one big invoice among small ones makes fewer."""
    from scipy import stats

    t = stats.t.ppf(0.975, 9)
    equal = ratio_of_sums([1000] * 10, [1000] * 10)
    assert (equal.rate, equal.standard_error, equal.interval.high) == (1.0, 0.0, 1.0)
    assert equal.interval.low == pytest.approx(10 / (10 + t**2))
    lopsided = ratio_of_sums([1000] * 9 + [9000], [1000] * 9 + [9000])
    effective = 18_000**2 / (9 * 1000**2 + 9000**2)  # Kish: 3.6 cases
    assert lopsided.interval.low == pytest.approx(effective / (effective + t**2))
    assert ratio_of_sums([0, 0, 0], [500, 700, 900]).interval.low == 0.0


def test_too_few_cases_or_amounts_that_cannot_be():
    assert ratio_of_sums([], []).interval is None
    single = ratio_of_sums([300], [1000])
    assert (single.rate, single.interval) == (0.3, None)
    assert ratio_of_sums([0, 0], [0, 0]).rate == 0.0
    assert ratio_difference(single, ratio_of_sums([1, 2], [2, 2])).interval is None
    with pytest.raises(ValueError):
        ratio_of_sums([1200], [1000])  # more recovered than was due
    with pytest.raises(ValueError):
        ratio_of_sums([1, 2], [3])
    with pytest.raises(ValueError):
        ratio_of_sums([1, 2], [3, 4], confidence=1.0)
    with pytest.raises(ValueError):
        ratio_difference(ratio_of_sums([1, 2], [3, 4], confidence=0.9),
                         ratio_of_sums([1, 2], [3, 4]))


def test_the_linearised_standard_error_agrees_with_a_bootstrap_over_cases():
    rng = np.random.default_rng(31)
    due, recovered = plan_cases(rng, 400)
    rate = ratio_of_sums(recovered, due)
    draws = rng.integers(0, 400, size=(4_000, 400))
    bootstrap = recovered[draws].sum(axis=1) / due[draws].sum(axis=1)
    assert rate.standard_error == pytest.approx(bootstrap.std(ddof=1), rel=0.05)


# Four plans' prices (minor units), how many customers are on each, and how often each recovers:
# dearer plans recover less, so the rate by amount (the true one below) is not the rate by count.
PRICES = np.array([900, 2_900, 9_900, 29_900])
PLAN_SHARES = np.array([0.4, 0.3, 0.2, 0.1])
RECOVERY = np.array([0.8, 0.7, 0.6, 0.45])
TRUE_AMOUNT_RATE = float((PLAN_SHARES * PRICES * RECOVERY).sum() / (PLAN_SHARES * PRICES).sum())


def plan_cases(rng, cases: int) -> tuple[np.ndarray, np.ndarray]:
    """One arm's ended cases: each an invoice of a random plan, recovered whole or not at all."""
    plan = rng.choice(len(PRICES), size=cases, p=PLAN_SHARES)
    due = PRICES[plan]
    return due, due * rng.binomial(1, RECOVERY[plan])


def test_on_a_a_data_the_95_percent_amount_intervals_cover_95_percent_of_the_time():
    """2,000 A/A experiments of 200 ended cases per arm: each arm's interval covers the true
    rate by amount (about 55%, against 70% by count), and the difference's covers 0, in about
    95% of them."""
    rng = np.random.default_rng(20261201)
    runs = 2_000
    arm_covered = difference_covered = 0
    for _ in range(runs):
        control = ratio_of_sums(*reversed(plan_cases(rng, 200)))
        treatment = ratio_of_sums(*reversed(plan_cases(rng, 200)))
        arm_covered += control.interval.contains(TRUE_AMOUNT_RATE)
        difference_covered += ratio_difference(control, treatment).interval.contains(0.0)
    assert 0.93 <= arm_covered / runs <= 0.97, arm_covered / runs
    assert 0.93 <= difference_covered / runs <= 0.97, difference_covered / runs


def test_the_amount_difference_interval_covers_a_real_gain_and_mostly_excludes_zero():
    """A/B: the treatment recovers every plan 15 points more often; 1,000 experiments of 600
    ended cases per arm. The interval covers the true gain in about 95% of them, and leaves
    zero out in most (the dear plans' few cases make the rate by amount noisy: with about 0.05
    of standard error per difference, the power to see 15 points is about 85%)."""
    rng = np.random.default_rng(77)
    runs, covered, excluded_zero = 1_000, 0, 0
    true_gain = float((PLAN_SHARES * PRICES * 0.15).sum() / (PLAN_SHARES * PRICES).sum())
    for _ in range(runs):
        control = ratio_of_sums(*reversed(plan_cases(rng, 600)))
        plan = rng.choice(len(PRICES), size=600, p=PLAN_SHARES)
        due = PRICES[plan]
        treatment = ratio_of_sums(due * rng.binomial(1, RECOVERY[plan] + 0.15), due)
        interval = ratio_difference(control, treatment).interval
        covered += interval.contains(true_gain)
        excluded_zero += interval.low > 0
    assert 0.93 <= covered / runs <= 0.97, covered / runs
    assert excluded_zero / runs > 0.8, excluded_zero / runs
