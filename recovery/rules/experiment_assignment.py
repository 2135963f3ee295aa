"""Which arm of an A/B experiment a customer is in: a pure function of the experiment and the
customer, the same in every process and after every restart.

The arm comes from a keyed BLAKE2b hash of the customer id (the key names the experiment), never
from Python's ``hash()``, which is salted per process. Keying by experiment makes the arms of two
experiments independent: being in one's treatment says nothing about the other.
"""

from __future__ import annotations

import enum
import hashlib

from recovery.errors import ExperimentError

# Customers fall into one of 10,000 buckets, room for splits finer than a whole percent later.
BUCKETS = 10_000


class Arm(enum.StrEnum):
    control = "control"  # the policy version in use
    treatment = "treatment"  # the policy version being tried


def assignment_bucket(experiment_id: int, stripe_customer_id: str) -> int:
    """The customer's bucket in ``[0, BUCKETS)`` for this experiment, uniformly spread."""
    if not stripe_customer_id:
        raise ExperimentError("a customer id is needed to assign an arm")
    digest = hashlib.blake2b(stripe_customer_id.encode(), digest_size=8,
                             key=f"recovery-experiment:{experiment_id}".encode()).digest()
    # 2**64 is not a multiple of 10,000, but the bias that leaves is below 1e-15 per bucket.
    return int.from_bytes(digest, "big") % BUCKETS


def validate_treatment_percent(treatment_percent: int) -> int:
    """The share of customers given the treatment, in whole percent; both arms must get some."""
    if isinstance(treatment_percent, bool) or not isinstance(treatment_percent, int) or not (
            0 < treatment_percent < 100):
        raise ExperimentError("the treatment's share must be a whole percent from 1 to 99, "
                              f"got {treatment_percent!r}")
    return treatment_percent


def assign_arm(experiment_id: int, stripe_customer_id: str, treatment_percent: int = 50) -> Arm:
    """The customer's arm: treatment for the first ``treatment_percent`` of the buckets."""
    threshold = validate_treatment_percent(treatment_percent) * BUCKETS // 100
    if assignment_bucket(experiment_id, stripe_customer_id) < threshold:
        return Arm.treatment
    return Arm.control
