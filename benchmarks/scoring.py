"""Scoring benchmark: choose the retry time of 10,000 failed invoices under a smart policy.

    .venv/bin/python benchmarks/scoring.py [--invoices 10000] [--seed 1] [--no-contributions]

Synthetic decision snapshots (time zones, decline mix, cards, customers' pay days) go through
the real planning path, ``plan_next_retries``: candidate hours from the rules (quiet hours and
the network budget), then the smart scorer, once with the decline-aware prior (cold start) and
once with a learned artifact: ``ml.training``'s calibrated HistGradientBoosting ``Pipeline``
trained here on synthetic rows of ``ml.features`` (its numbers mean nothing; only its cost is
measured), served through ``ml.registry.Artifact``. The
database is not part of the measure: snapshots are handed to the scorer as ``ml.history`` would.

Prints one table: invoices, candidate hours scored, seconds and invoices per second per scorer.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import numpy as np

from ml.features import (
    CardFacts,
    CustomerHistory,
    DecisionSnapshot,
    candidate_frames,
)
from ml.registry import Artifact
from ml.training import fit_calibrated, reference_values
from recovery.rules.declines import classify_decline
from recovery.rules.network_rules import AttemptRecord
from recovery.rules.policy import RetryContext, RetryPolicy, plan_next_retries
from recovery.scoring.smart import MlParts, SmartScorer
from webhooks.facts import DeclineInfo

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
ZONES = ["America/New_York", "America/Chicago", "America/Los_Angeles", "Europe/London",
         "Europe/Berlin", "Asia/Kolkata", "Australia/Sydney", "America/Sao_Paulo", "UTC"]
DECLINES = [("insufficient_funds", 0.5), ("do_not_honor", 0.25), ("generic_decline", 0.12),
            ("processing_error", 0.05), ("card_velocity_exceeded", 0.08)]
BRANDS = ["visa", "mastercard", "amex"]


@dataclass(frozen=True)
class Invoice:
    snapshot: DecisionSnapshot
    context: RetryContext


def synthetic_invoices(count: int, rng: np.random.Generator) -> list[Invoice]:
    codes, weights = zip(*DECLINES, strict=True)
    invoices = []
    for case_id in range(1, count + 1):
        failed = NOW - timedelta(hours=float(rng.uniform(0, 24 * 10)))
        code, brand = str(rng.choice(codes, p=weights)), str(rng.choice(BRANDS))
        zone = str(rng.choice(ZONES))
        label = classify_decline(DeclineInfo("card_declined", code), brand)
        retries = int(rng.integers(0, 2))
        history = tuple(AttemptRecord(f"fp{case_id}", failed + timedelta(days=2 * n), False,
                                      label, "stripe" if n == 0 else "engine")
                        for n in range(retries + 1) if failed + timedelta(days=2 * n) <= NOW)
        paid_days = tuple(int(d) for d in rng.choice([1, 15, 28, 30], size=rng.integers(0, 4)))
        snapshot = DecisionSnapshot(
            account_id="acct_bench", case_id=case_id, timezone=zone, first_failed_at=failed,
            last_attempt_at=history[-1].at, attempt_number=len(history) + 1,
            decline_class=label.decline_class.value, decline_code=code, advice_code=None,
            network_decline_code=None, network_advice_code=None,
            card=CardFacts(brand, "credit", "US", int(rng.integers(1, 13)), 2028),
            amount=int(rng.integers(500, 50_000)), currency="usd", interval_days=30,
            customer_since=failed - timedelta(days=int(rng.integers(30, 900))),
            history=CustomerHistory(paid_days, tuple(9 for _ in paid_days),
                                    failed - timedelta(days=30), int(rng.integers(0, 3)), 0),
            account_rates={"all": 0.2, label.decline_class.value: 0.18})
        context = RetryContext(
            now=NOW, first_failed_at=failed, retries_done=len(history) - 1,
            classification=label, card_fingerprint=f"fp{case_id}", card_brand=brand,
            history=history, timezone=zone, case_id=case_id, account_id="acct_bench")
        invoices.append(Invoice(snapshot, context))
    return invoices


def train_artifact(invoices: list[Invoice], rng: np.random.Generator) -> Artifact:
    """``ml.training``'s calibrated pipeline on synthetic rows: paydays and mornings succeed
    more often (only so the trees have some shape; the benchmark measures cost)."""
    pairs = [(i.snapshot, (np.sort(rng.integers(0, 24 * 20, size=10)) * 3600 + int(
        NOW.timestamp())).astype("datetime64[s]")) for i in invoices[:2000]]
    rows = candidate_frames(pairs)
    hour, day = rows["local_hour"].to_numpy(), rows["local_day_of_month"].to_numpy()
    chance = 0.05 + 0.2 * np.isin(day, [1, 2, 15, 16]) + 0.05 * ((hour >= 7) & (hour <= 10))
    rows["label"] = (rng.random(len(rows)) < chance).astype(int)
    pipeline = fit_calibrated(rows)
    return Artifact("bench-hgb-1", "acct_bench", {"reference": reference_values(rows)},
                    pipeline)


def run(invoices: list[Invoice], artifact: Artifact | None, min_attempts: int,
        contributions: bool) -> tuple[int, float, list]:
    snapshots = {i.snapshot.case_id: i.snapshot for i in invoices}
    parts = MlParts(lambda _session, _account: artifact,
                    lambda _session, _account, ids, _now: {n: snapshots[n] for n in ids},
                    candidate_frames)
    scorer = SmartScorer(min_attempts=min_attempts, ml=parts, explain_contributions=contributions)
    policy = RetryPolicy(timing="smart")
    session = SimpleNamespace(exec=lambda _query: SimpleNamespace(one=lambda: 1000))
    cases = [SimpleNamespace(id=i.snapshot.case_id, account_id="acct_bench") for i in invoices]
    started = time.perf_counter()
    scorer.prepare(session, cases, NOW)
    plans = plan_next_retries([(policy, i.context) for i in invoices], scorer)
    seconds = time.perf_counter() - started
    scored = sum(p.explanation.get("candidates", 0) for p in plans if p.explanation)
    return scored, seconds, plans


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-contributions", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    invoices = synthetic_invoices(args.invoices, rng)
    artifact = train_artifact(invoices, rng)
    rows = [("prior (cold start)", *run(invoices, None, 10**9, False))]
    rows.append(("learned (HGB pipeline)", *run(invoices, artifact, 1,
                                                not args.no_contributions)))
    print(f"{'scorer':<24}{'invoices':>10}{'retries':>9}{'candidates scored':>19}"
          f"{'seconds':>9}{'invoices/s':>12}")
    for name, scored, seconds, plans in rows:
        retries = sum(p.kind == "retry" for p in plans)
        print(f"{name:<24}{len(plans):>10}{retries:>9}{scored:>19,}{seconds:>9.2f}"
              f"{len(plans) / seconds:>12,.0f}")


if __name__ == "__main__":
    main()
