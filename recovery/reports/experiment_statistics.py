"""The statistics of an A/B experiment between two policy versions, on plain numbers and arrays.

Pure: no database, clock or I/O. Every difference is treatment minus control.

- One arm's rate: the Wilson score interval.
- The difference of two rates: Newcombe's hybrid score interval (method 10 of Newcombe, "Interval
  estimation for the difference between independent proportions: comparison of eleven methods",
  Statistics in Medicine 17, 1998), built from each arm's Wilson interval.
- The difference of two means (amount recovered or net revenue per case): Welch's t interval.
- A sequential test that stays valid however often it is read: the mixture sequential
  probability ratio test (mSPRT) of Johari, Koomen, Pekelis & Walsh, "Always valid inference:
  continuous monitoring of A/B tests", Operations Research 70(3), 2022, with its always-valid
  p-value and the confidence sequence it inverts to (see ``sequential_test``).

The fixed intervals are valid when read once, at a sample size chosen in advance; only the
sequential test may be read after every new case and acted on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from scipy import stats

from recovery.rules.experiment_assignment import Arm

# A prior guess of how far apart two policies' recovery rates are: the mixing distribution of the
# mSPRT is N(0, tau^2) over the true difference, and the test is most powerful for differences
# of about tau. Five points of recovery rate is a large but plausible gain between two policies.
DEFAULT_MIXING_VARIANCE = 0.05**2


@dataclass(frozen=True)
class Interval:
    low: float
    high: float
    confidence: float  # e.g. 0.95

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


@dataclass(frozen=True)
class Proportion:
    """One arm's rate: ``successes`` out of ``trials`` with its Wilson interval."""

    successes: int
    trials: int
    interval: Interval

    @property
    def rate(self) -> float:
        return self.successes / self.trials if self.trials else 0.0


@dataclass(frozen=True)
class Difference:
    """Treatment minus control, with its interval (None: too few observations for one)."""

    estimate: float
    interval: Interval | None
    method: str  # newcombe-hybrid-score | welch


def wilson_interval(successes: int, trials: int, *, confidence: float = 0.95) -> Interval:
    """The Wilson score interval of a binomial rate; with no trials, all of [0, 1].

    With p = successes / trials and z the normal quantile of the confidence:
    (p + z^2 / 2n -+ z sqrt(p (1 - p) / n + z^2 / 4n^2)) / (1 + z^2 / n). Written out rather
    than taken from ``scipy.stats.binomtest``, which is hundreds of times slower, too slow for
    the simulated experiments of the tests. The tests check the two agree.
    """
    _check_counts(successes, trials)
    if trials == 0:
        return Interval(0.0, 1.0, confidence)
    z = _normal_quantile(confidence)
    rate, z2_n = successes / trials, z * z / trials
    centre = rate + z2_n / 2
    half = z * math.sqrt(rate * (1 - rate) / trials + z2_n / (4 * trials))
    scale = 1 + z2_n
    # At 0 or n successes the bound is exactly 0 or 1; rounding would leave it a hair off.
    low = 0.0 if successes == 0 else (centre - half) / scale
    high = 1.0 if successes == trials else (centre + half) / scale
    return Interval(low, high, confidence)


def _normal_quantile(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(f"a confidence is between 0 and 1, got {confidence}")
    return NormalDist().inv_cdf((1 + confidence) / 2)


def proportion(successes: int, trials: int, *, confidence: float = 0.95) -> Proportion:
    return Proportion(successes, trials, wilson_interval(successes, trials,
                                                         confidence=confidence))


def proportion_difference(control: Proportion, treatment: Proportion) -> Difference:
    """Newcombe's hybrid score interval for ``treatment.rate - control.rate``.

    With Wilson intervals (l1, u1) for the treatment's rate p1 and (l2, u2) for the control's p2,
    and d = p1 - p2: [d - sqrt((p1 - l1)^2 + (u2 - p2)^2), d + sqrt((u1 - p1)^2 + (p2 - l2)^2)].
    It keeps close to its stated coverage for small samples and rates near 0 or 1, where the
    Wald interval does not. Both arms' intervals must have the same confidence.
    """
    if control.interval.confidence != treatment.interval.confidence:
        raise ValueError("both arms' intervals must have the same confidence")
    p1, p2 = treatment.rate, control.rate
    low1, high1 = treatment.interval.low, treatment.interval.high
    low2, high2 = control.interval.low, control.interval.high
    estimate = p1 - p2
    low = estimate - math.hypot(p1 - low1, high2 - p2)
    high = estimate + math.hypot(high1 - p1, p2 - low2)
    interval = Interval(max(low, -1.0), min(high, 1.0), treatment.interval.confidence)
    return Difference(estimate, interval, "newcombe-hybrid-score")


def mean_difference(control: Sequence[float], treatment: Sequence[float], *,
                    confidence: float = 0.95) -> Difference:
    """Welch's t interval for ``mean(treatment) - mean(control)`` (unequal variances).

    Per-case money (recovered amount, net revenue) is skewed: the t interval leans on the
    central limit theorem, so it is trustworthy from a few dozen cases per arm. With fewer than
    two values in an arm there is no interval; with no spread in either arm it is the estimate.
    """
    control_values = np.asarray(control, dtype=float)
    treatment_values = np.asarray(treatment, dtype=float)
    if control_values.size == 0 or treatment_values.size == 0:
        return Difference(0.0, None, "welch")
    estimate = float(treatment_values.mean() - control_values.mean())
    if control_values.size < 2 or treatment_values.size < 2:
        return Difference(estimate, None, "welch")
    if control_values.var() == 0 and treatment_values.var() == 0:
        return Difference(estimate, Interval(estimate, estimate, confidence), "welch")
    result = stats.ttest_ind(treatment_values, control_values, equal_var=False)
    low, high = result.confidence_interval(confidence_level=confidence)
    return Difference(estimate, Interval(float(low), float(high), confidence), "welch")


def _check_counts(successes: int, trials: int) -> None:
    if trials < 0 or not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials, got {successes} of {trials}")


@dataclass(frozen=True)
class SequentialResult:
    """The mSPRT of equal recovery rates, read at the latest look.

    ``p_value`` is the always-valid p-value: the smallest 1/Lambda over every look so far, so
    P(p_value <= alpha at any look) <= alpha when the arms do not differ. ``stop`` is
    ``p_value <= alpha``: once true it stays true. ``interval`` is the confidence sequence at
    the latest look (it covers the true difference at every look at once with probability
    1 - alpha). ``leader`` is the arm with the higher rate at the latest look (None: level);
    ``winner`` is the leader once the test has stopped.
    """

    p_value: float
    stop: bool
    leader: Arm | None
    estimate: float  # treatment minus control, at the latest look
    interval: Interval
    looks: int  # looks with at least one case in each arm
    alpha: float
    mixing_variance: float

    @property
    def winner(self) -> Arm | None:
        return self.leader if self.stop else None


def sequential_test(control_successes: Sequence[int] | int, control_trials: Sequence[int] | int,
                    treatment_successes: Sequence[int] | int,
                    treatment_trials: Sequence[int] | int, *, alpha: float = 0.05,
                    mixing_variance: float = DEFAULT_MIXING_VARIANCE) -> SequentialResult:
    """The mSPRT of H0: equal rates, over every look taken so far.

    Each argument holds one arm's cumulative counts at each look, in order (a single number is
    one look). At a look with rates p_c = s_c / n_c and p_t = s_t / n_t, the estimate is
    theta = p_t - p_c with variance V = q_c (1 - q_c) / n_c + q_t (1 - q_t) / n_t, where
    q = (s + 1) / (n + 2) keeps V above zero while an arm has seen only recoveries or none.
    Mixing the likelihood ratio of a normal estimate over a N(0, tau^2) prior on the true
    difference gives the mSPRT statistic of Johari et al. (2022) for a difference of two means,
    with the two-sample variance V:

        Lambda = sqrt(V / (V + tau^2)) * exp(tau^2 theta^2 / (2 V (V + tau^2)))

    Under H0 Lambda is (approximately, since V is estimated and the rates are normal only in
    the limit) a nonnegative martingale with mean 1, so by Ville's inequality
    P(Lambda >= 1/alpha at any look) <= alpha: p = min(1, min over looks of 1/Lambda) is a
    p-value valid at any stopping time. Inverting Lambda < 1/alpha around a true difference
    gives the confidence sequence (the normal-mixture boundary of Howard, Ramdas, McAuliffe &
    Sekhon, "Time-uniform, nonparametric, nonasymptotic confidence sequences", Annals of
    Statistics 49(2), 2021)

        theta +- sqrt(V (V + tau^2) / tau^2 * log((V + tau^2) / (V alpha^2)))

    ``mixing_variance`` is tau^2: the test reacts fastest to differences of about tau, and
    smaller values make it slower to call early, small samples.
    """
    if not 0 < alpha < 1 or mixing_variance <= 0:
        raise ValueError("need 0 < alpha < 1 and a positive mixing variance")
    s_c, n_c, s_t, n_t = _looks_with_both_arms(control_successes, control_trials,
                                               treatment_successes, treatment_trials)
    if s_c.size == 0:
        return SequentialResult(1.0, False, None, 0.0, Interval(-1.0, 1.0, 1 - alpha), 0, alpha,
                                mixing_variance)
    theta = s_t / n_t - s_c / n_c
    variance = _smoothed_variance(s_c, n_c) + _smoothed_variance(s_t, n_t)
    log_lambda = (0.5 * np.log(variance / (variance + mixing_variance))
                  + mixing_variance * theta**2 / (2 * variance * (variance + mixing_variance)))
    p_value = float(min(1.0, np.exp(-log_lambda.max())))
    return SequentialResult(
        p_value, p_value <= alpha, _leader(float(theta[-1])), float(theta[-1]),
        _confidence_sequence(float(theta[-1]), float(variance[-1]), alpha, mixing_variance),
        int(s_c.size), alpha, mixing_variance)


def _looks_with_both_arms(*counts) -> tuple[np.ndarray, ...]:
    """The four cumulative counts as arrays, at the looks where each arm has a case."""
    s_c, n_c, s_t, n_t = (np.atleast_1d(np.asarray(a, dtype=float)) for a in counts)
    if len({s_c.shape, n_c.shape, s_t.shape, n_t.shape}) != 1:
        raise ValueError("every count needs one value per look")
    if np.any((s_c < 0) | (s_c > n_c)) or np.any((s_t < 0) | (s_t > n_t)):
        raise ValueError("need 0 <= successes <= trials at every look")
    both = (n_c > 0) & (n_t > 0)
    return s_c[both], n_c[both], s_t[both], n_t[both]


def _smoothed_variance(successes: np.ndarray, trials: np.ndarray) -> np.ndarray:
    rate = (successes + 1) / (trials + 2)
    return rate * (1 - rate) / trials


def _confidence_sequence(theta: float, variance: float, alpha: float,
                         mixing_variance: float) -> Interval:
    total = variance + mixing_variance
    half = math.sqrt(variance * total / mixing_variance
                     * math.log(total / (variance * alpha**2)))
    return Interval(max(theta - half, -1.0), min(theta + half, 1.0), 1 - alpha)


def _leader(theta: float) -> Arm | None:
    if theta == 0:
        return None
    return Arm.treatment if theta > 0 else Arm.control
