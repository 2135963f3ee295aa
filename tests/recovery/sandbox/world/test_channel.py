"""The sandbox channel tells the World every message, in the kinds the World knows."""

from __future__ import annotations

from datetime import UTC, datetime

from recovery.messaging.notifier import compose
from recovery.sandbox.world.channel import WorldChannel


class Listening:
    def __init__(self) -> None:
        self.told = []

    def message(self, message) -> None:
        self.told.append(message)


class OneSubscriber:
    def subscriber_for_customer(self, customer_id: str):
        return "sub_1" if customer_id == "cus_1" else None


def test_a_reminder_reaches_the_world_as_a_failure_notice_and_unknown_kinds_as_other():
    world = Listening()
    channel = WorldChannel(world, OneSubscriber())
    at = datetime(2026, 1, 5, 10, tzinfo=UTC)
    for kind in ("reminder", "final_notice", "something_new"):
        channel.deliver(compose("acct", "cus_1", "in_1", kind, at))
    channel.deliver(compose("acct", "cus_unknown", "in_2", "reminder", at))
    assert [(m.subscriber_id, m.kind) for m in world.told] == [
        ("sub_1", "payment_failed"), ("sub_1", "final_notice"), ("sub_1", "other")]
    assert channel.sent == 3
