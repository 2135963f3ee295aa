"""The chaos plan: keyed draws fixed by the seed, valid shares, faults laid over one draw."""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import timedelta

import pytest

from recovery.sandbox.chaos.plan import API_FAULTS, KILL_POINTS, ChaosPlan


def test_draws_depend_only_on_the_seed_and_the_parts():
    plan = ChaosPlan(seed=7)
    first = [plan.draw("webhook", f"evt_{n}", "duplicate") for n in range(50)]
    # In another order, from another plan object with the same seed: the same numbers.
    again = ChaosPlan(seed=7)
    assert [again.draw("webhook", f"evt_{n}", "duplicate") for n in reversed(range(50))] == \
        first[::-1]
    assert all(0.0 <= u < 1.0 for u in first)
    assert first != [ChaosPlan(seed=8).draw("webhook", f"evt_{n}", "duplicate")
                     for n in range(50)]
    assert plan.draw("a", 1) != plan.draw("a", 2)


def test_calm_plan_has_no_fault_and_keeps_order():
    calm = ChaosPlan.calm(seed=3)
    shares = {f.name: getattr(calm, f.name) for f in dataclasses.fields(calm)
              if f.name.endswith("_share")}
    assert shares and set(shares.values()) == {0.0}
    assert calm.reorder is False and calm.seed == 3
    assert all(calm.pick_fault(u / 100, pay=True) is None for u in range(100))


def test_shares_are_checked():
    with pytest.raises(ValueError, match="duplicate_share"):
        ChaosPlan(seed=1, duplicate_share=1.5)
    with pytest.raises(ValueError, match="more than 1"):
        ChaosPlan(seed=1, rate_limited_share=0.6, server_error_after_share=0.6)
    with pytest.raises(ValueError, match="redelivery_wait"):
        ChaosPlan(seed=1, redelivery_wait=timedelta(0))


def test_faults_fall_at_their_shares_and_kills_only_on_pay_calls():
    plan = ChaosPlan(seed=11)
    n = 20_000
    on_pay = Counter(plan.pick_fault(plan.draw("t", i), pay=True) for i in range(n))
    elsewhere = Counter(plan.pick_fault(plan.draw("t", i), pay=False) for i in range(n))
    for name in (*API_FAULTS, *KILL_POINTS):
        share = getattr(plan, f"{name}_share")
        assert on_pay[name] / n == pytest.approx(share, abs=0.006), name
    assert not any(elsewhere[name] for name in KILL_POINTS)
    for name in API_FAULTS:
        assert elsewhere[name] / n == pytest.approx(getattr(plan, f"{name}_share"), abs=0.006)
