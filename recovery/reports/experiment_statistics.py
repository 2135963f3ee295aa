"""The statistics of an A/B experiment between two policy versions, on plain numbers and arrays.

Pure: no database, clock or I/O. Every difference is treatment minus control.

- One arm's rate: the Wilson score interval.
- The difference of two rates: Newcombe's hybrid score interval (method 10 of Newcombe, "Interval
  estimation for the difference between independent proportions: comparison of eleven methods",
  Statistics in Medicine 17, 1998), built from each arm's Wilson interval.
- The difference of two means (amount recovered or net revenue per case): Welch's t interval.
- One arm's rate by amount (recovered amount over amount due, a ratio of two sums over cases):
  the linearisation (delta-method) interval of the ratio estimator, on the log-odds scale (see
  ``ratio_of_sums``); the difference of two such rates: Newcombe's construction from the two
  arms' intervals (``ratio_difference``).
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
    method: str  # newcombe-hybrid-score | welch | delta-method-mover


@dataclass(frozen=True)
class RatioOfSums:
    """One arm's rate by amount: ``numerator`` (recovered) over ``denominator`` (due), summed
    over ``cases``, with the ratio estimator's standard error and interval (None: fewer than
    two cases, or nothing due)."""

    numerator: float
    denominator: float
    cases: int
    standard_error: float | None
    interval: Interval | None

    @property
    def rate(self) -> float:
        return self.numerator / self.denominator if self.denominator else 0.0


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
    return _wilson_at(successes / trials, trials, _normal_quantile(confidence), confidence)


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


def ratio_of_sums(numerators: Sequence[float], denominators: Sequence[float], *,
                  confidence: float = 0.95) -> RatioOfSums:
    """R = sum(y) / sum(x) over independent cases, each y_i a part of its x_i (recovered amount
    of amount due), with an interval built as survey statistics builds one for an estimated
    share (Lumley, "Complex Surveys", 2010, section 2.9; R's ``survey::svyciprop``, method
    "logit"):

    - the linearisation (delta-method) variance of a ratio estimator (Cochran, "Sampling
      Techniques", 3rd ed., 1977, section 6.4), with residuals d_i = y_i - R x_i and xbar the
      mean amount due: Var(R) ~ sum(d_i^2) / (n (n - 1) xbar^2);
    - taken to the log-odds scale, where a share's estimate is closer to normal, and back:
      logit(R) -+ t sqrt(Var(R)) / (R (1 - R)), with t the Student quantile on n - 1 degrees of
      freedom. The interval stays inside (0, 1) and leans away from the nearer bound, as
      Wilson's does for a count;
    - when R is 0 or 1 the residuals are all zero and say nothing: the Wilson interval on
      Kish's effective number of cases, sum(x)^2 / sum(x^2), stands in.

    Big invoices weigh more, as they do in the rate. Closed form and linear in the cases,
    where a bootstrap would redraw them thousands of times. The tests measure its coverage on
    skewed invoice amounts: close to the stated confidence from about a hundred cases, below it
    with a few dozen at rates near 0 or 1.
    """
    y, x = _parts_and_wholes(numerators, denominators)
    _normal_quantile(confidence)  # refuses a confidence outside (0, 1), even with no case
    total_y, total_x, n = float(y.sum()), float(x.sum()), int(y.size)
    if n < 2 or total_x == 0:
        return RatioOfSums(total_y, total_x, n, None, None)
    rate = min(total_y / total_x, 1.0)
    residuals = y - rate * x
    error = math.sqrt(float(residuals @ residuals) / (n * (n - 1))) / (total_x / n)
    t = float(stats.t.ppf((1 + confidence) / 2, n - 1))
    if 0 < rate < 1:
        half = t * error / (rate * (1 - rate))
        centre = math.log(rate / (1 - rate))
        interval = Interval(_expit(centre - half), _expit(centre + half), confidence)
    else:
        interval = _wilson_at(rate, total_x**2 / float(x @ x), t, confidence)
    return RatioOfSums(total_y, total_x, n, error, interval)


def ratio_difference(control: RatioOfSums, treatment: RatioOfSums) -> Difference:
    """``treatment.rate - control.rate`` with the interval Newcombe's method builds from the
    two arms' own intervals (the "method of variance estimates recovery", Zou & Donner,
    "Construction of confidence limits about effect measures: a general approach", Statistics
    in Medicine 27, 2008): [d - sqrt((r1 - l1)^2 + (u2 - r2)^2),
    d + sqrt((u1 - r1)^2 + (r2 - l2)^2)], with (l1, u1) the treatment's interval around r1 and
    (l2, u2) the control's around r2. It keeps each arm's lean near 0 or 1 that a symmetric
    interval would lose. None when either arm has no interval."""
    estimate = treatment.rate - control.rate
    if control.interval is None or treatment.interval is None:
        return Difference(estimate, None, "delta-method-mover")
    if control.interval.confidence != treatment.interval.confidence:
        raise ValueError("both arms' intervals must have the same confidence")
    r1, r2 = treatment.rate, control.rate
    low = estimate - math.hypot(r1 - treatment.interval.low, control.interval.high - r2)
    high = estimate + math.hypot(treatment.interval.high - r1, r2 - control.interval.low)
    return Difference(estimate, Interval(max(low, -1.0), min(high, 1.0),
                                         treatment.interval.confidence), "delta-method-mover")


def _parts_and_wholes(numerators: Sequence[float],
                      denominators: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(numerators, dtype=float)
    x = np.asarray(denominators, dtype=float)
    if y.shape != x.shape or y.ndim != 1:
        raise ValueError("every case needs one numerator and one denominator")
    if np.any(y < 0) or np.any(y > x):
        raise ValueError("each numerator must be between 0 and its denominator")
    return y, x


def _expit(value: float) -> float:
    return 1 / (1 + math.exp(-value)) if value >= 0 else math.exp(value) / (1 + math.exp(value))


def _wilson_at(rate: float, cases: float, quantile: float, confidence: float) -> Interval:
    """Wilson's interval for ``rate`` out of ``cases`` (which need not be whole), with the
    normal quantile z given: (p + z^2 / 2n -+ z sqrt(p (1 - p) / n + z^2 / 4n^2)) / (1 + z^2 / n).
    """
    q2_n = quantile * quantile / cases
    centre = rate + q2_n / 2
    half = quantile * math.sqrt(rate * (1 - rate) / cases + q2_n / (4 * cases))
    scale = 1 + q2_n
    # At a rate of 0 or 1 the bound is exactly 0 or 1; rounding would leave it a hair off.
    low = 0.0 if rate == 0 else (centre - half) / scale
    high = 1.0 if rate == 1 else (centre + half) / scale
    return Interval(low, high, confidence)


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
