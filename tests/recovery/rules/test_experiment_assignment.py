"""A customer's arm is a pure function of the experiment and the customer: the same in every
process, balanced at the split, and independent between experiments."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from scipy import stats

from recovery.errors import ExperimentError
from recovery.rules.experiment_assignment import (
    BUCKETS,
    Arm,
    assign_arm,
    assignment_bucket,
    validate_treatment_percent,
)

CUSTOMERS = [f"cus_{number:014d}" for number in range(10_000)]
SIGNIFICANCE = 0.01

# Fixed once: a change to the hash would move customers between arms of running experiments.
EXPECTED = [
    (1, "cus_NffrFeUfNV2Hib", 6104, Arm.control, Arm.control),
    (1, "cus_QzXFzVt2qz0Aa1", 4145, Arm.treatment, Arm.control),
    (1, "cus_Lb8u0r4m5Jx0Ts", 232, Arm.treatment, Arm.treatment),
    (2, "cus_NffrFeUfNV2Hib", 8929, Arm.control, Arm.control),
    (2, "cus_P5tmVmuYrb2kUr", 4600, Arm.treatment, Arm.control),
    (2, "cus_9s6XKzkNRiz8i3", 764, Arm.treatment, Arm.treatment),
]


@pytest.mark.parametrize(("experiment", "customer", "bucket", "at_50", "at_30"), EXPECTED)
def test_the_arm_is_fixed_by_the_experiment_and_the_customer(experiment, customer, bucket,
                                                             at_50, at_30):
    assert assignment_bucket(experiment, customer) == bucket
    assert assign_arm(experiment, customer, 50) == at_50
    assert assign_arm(experiment, customer, 30) == at_30


def test_another_process_with_another_hash_seed_assigns_the_same_arms():
    script = ("from recovery.rules.experiment_assignment import assignment_bucket as b; "
              f"print([b(e, c) for e, c, *_ in {[row[:2] for row in EXPECTED]!r}])")
    for seed in ("1", "2"):
        output = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True,
                                text=True, env={**os.environ, "PYTHONHASHSEED": seed}).stdout
        assert output.strip() == str([row[2] for row in EXPECTED])


@pytest.mark.parametrize("treatment_percent", [50, 30])
def test_arms_match_the_split_on_10000_customers(treatment_percent):
    treated = sum(assign_arm(7, customer, treatment_percent) == Arm.treatment
                  for customer in CUSTOMERS)
    expected = [len(CUSTOMERS) * treatment_percent / 100,
                len(CUSTOMERS) * (100 - treatment_percent) / 100]
    result = stats.chisquare([treated, len(CUSTOMERS) - treated], expected)
    assert result.pvalue > SIGNIFICANCE, (treated, result)


def test_a_skewed_assignment_would_be_caught():
    """The chi-square check above has teeth: 52% against a 50/50 split is rejected."""
    result = stats.chisquare([5_200, 4_800], [5_000, 5_000])
    assert result.pvalue < SIGNIFICANCE


def test_buckets_spread_evenly():
    counts = [0] * 10
    for customer in CUSTOMERS:
        counts[assignment_bucket(7, customer) * 10 // BUCKETS] += 1
    assert stats.chisquare(counts).pvalue > SIGNIFICANCE


def test_one_experiments_arm_says_nothing_of_anothers():
    table = [[0, 0], [0, 0]]
    for customer in CUSTOMERS:
        first = assign_arm(7, customer) == Arm.treatment
        second = assign_arm(8, customer) == Arm.treatment
        table[first][second] += 1
    assert stats.chi2_contingency(table).pvalue > SIGNIFICANCE
    # Not the same arms under another name either.
    assert min(min(row) for row in table) > 2_000


@pytest.mark.parametrize("bad", [0, 100, -5, 150, 50.5, "50", True, None])
def test_a_split_that_leaves_an_arm_empty_or_is_not_a_whole_percent_is_refused(bad):
    with pytest.raises(ExperimentError, match="whole percent from 1 to 99"):
        validate_treatment_percent(bad)
    with pytest.raises(ExperimentError):
        assign_arm(1, "cus_1", bad)


def test_a_customer_without_an_id_gets_no_arm():
    with pytest.raises(ExperimentError, match="customer id"):
        assign_arm(1, "")
