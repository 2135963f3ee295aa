"""The oracle scorer: the first allowed hour the world would accept, asked without side effects,
through the real planning path (so quiet hours and the network rules still hold)."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

from recovery.rules.declines import classify_decline
from recovery.rules.policy import RetryContext, plan_next_retries
from recovery.sandbox.oracle import OracleScorer
from recovery.sandbox.policies import oracle
from webhooks.facts import DeclineInfo

FAILED = datetime(2026, 2, 2, 14, 0, tzinfo=UTC)
NSF = classify_decline(DeclineInfo("card_declined", "insufficient_funds"), "visa")


class LookAheadWorld:
    """Would accept a charge from ``opens_at`` on; records every question."""

    def __init__(self, opens_at: datetime | None) -> None:
        self.opens_at = opens_at
        self.asked: list[tuple] = []

    def would_succeed(self, subscriber_id, invoice_id, fingerprint, amount, currency, at):
        self.asked.append((subscriber_id, invoice_id, fingerprint, amount, currency, at))
        return self.opens_at is not None and at >= self.opens_at


class FakeStripeView:
    def invoice(self, invoice_id):
        return {"id": invoice_id, "customer": "cus_1", "amount_due": 2900, "currency": "usd"}

    def subscriber_for_customer(self, customer_id):
        return "sub_1" if customer_id == "cus_1" else None


def plan(world: LookAheadWorld):
    scorer = OracleScorer(world, FakeStripeView())
    scorer.prepare(None, [SimpleNamespace(id=7, stripe_invoice_id="in_7")], FAILED)
    context = RetryContext(now=FAILED, first_failed_at=FAILED, retries_done=0,
                           classification=NSF, card_fingerprint="fp_1", card_brand="visa",
                           timezone="America/New_York", case_id=7, account_id="acct")
    return plan_next_retries([(oracle(), context)], scorer)[0]


def test_the_oracle_retries_at_the_first_allowed_hour_the_world_would_accept():
    # Funds are back at 03:00 New York time on day 6: quiet hours hold the retry until 08:00.
    opens = datetime(2026, 2, 8, 8, 0, tzinfo=UTC)  # 03:00 EST
    world = LookAheadWorld(opens)
    chosen = plan(world)
    assert chosen.kind == "retry"
    assert chosen.at == datetime(2026, 2, 8, 13, 0, tzinfo=UTC)  # 08:00 EST, the first allowed
    assert chosen.scorer_version == "oracle" and chosen.propensity == 1.0
    assert {q[:5] for q in world.asked} == {("sub_1", "in_7", "fp_1", 2900, "usd")}
    assert max(q[5] for q in world.asked) == chosen.at  # it stopped at the first success


def test_the_oracle_keeps_the_card_untouched_when_no_hour_would_succeed():
    world = LookAheadWorld(None)
    chosen = plan(world)
    assert chosen.kind == "end"
    assert "oracle" in chosen.reason
    assert len(world.asked) > 24 * 10  # it looked through the whole window


def test_the_oracle_row_only_with_a_world_that_can_look_ahead():
    from recovery.sandbox.policies import comparison_policies

    names = [p.name for p in comparison_policies("recovery.sandbox.world.builtin:make_world")]
    assert names[-2:] == ["smart", "oracle"]
    assert "oracle" not in [p.name for p in comparison_policies("mypkg.worlds:make_world")]
