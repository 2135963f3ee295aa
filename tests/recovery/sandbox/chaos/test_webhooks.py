"""Chaotic webhook delivery: every event arrives, at the planned shares of duplicates, delays and
replays, re-signed at sending; stale replays keep their old signature and are refused."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from recovery.runtime.clock import VirtualClock
from recovery.sandbox.chaos.plan import ChaosPlan
from recovery.sandbox.chaos.webhooks import ChaoticDelivery
from recovery.sandbox.fake_stripe.events import signature_header
from webhooks.verify import SignatureRejected, signature_timestamp, verify_signature

SECRET = "whsec_chaos_tests_0123456789abcdef"
START = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)


@dataclass
class Receiver:
    """Checks each delivery as the engine's webhook route does and logs it."""

    clock: VirtualClock
    refuse_first: set[str] = field(default_factory=set)  # answer 503 once to these events
    log: list[tuple[str, datetime, int, str, int]] = field(default_factory=list)

    def __call__(self, body: str, header: str) -> int:
        event_id = json.loads(body)["id"]
        try:
            verify_signature(body.encode(), header, [SECRET], now=self.clock.now(),
                             tolerance=300)
        except SignatureRejected:
            status = 400
        else:
            status = 200
            if event_id in self.refuse_first:
                self.refuse_first.discard(event_id)
                status = 503
        self.log.append((event_id, self.clock.now(), signature_timestamp(header), header,
                         status))
        return status

    def accepted(self) -> dict[str, list[datetime]]:
        seen: dict[str, list[datetime]] = defaultdict(list)
        for event_id, at, _t, _header, status in self.log:
            if status == 200:
                seen[event_id].append(at)
        return seen


def body(n: int) -> str:
    return json.dumps({"id": f"evt_{n:05d}", "object": "event", "type": "invoice.paid"})


def run(plan: ChaosPlan, events: int, batch: int = 10, refuse_first=()):
    """Queue ``events`` synthetic events in batches sharing a moment, deliver as they fall due,
    then follow ``next_due`` until the queue is empty."""
    clock = VirtualClock(START)
    receiver = Receiver(clock, set(refuse_first))
    delivery = ChaoticDelivery(plan, clock, secret=SECRET, deliver=receiver)
    queued_at, headers = {}, {}
    for n in range(events):
        if n and n % batch == 0:
            delivery.deliver_due()
            clock.advance(timedelta(minutes=1))
        text = body(n)
        header = signature_header(text, SECRET, int(clock.now().timestamp()))
        queued_at[f"evt_{n:05d}"], headers[f"evt_{n:05d}"] = clock.now(), header
        delivery(text, header)
    delivery.deliver_due()
    while (due := delivery.next_due()) is not None:
        clock.set(max(due, clock.now()))
        delivery.deliver_due()
    return delivery, receiver, queued_at, headers


def test_every_event_arrives_at_the_planned_shares():
    plan = ChaosPlan(seed=5)
    delivery, receiver, queued_at, _ = run(plan, 3000)
    accepted = receiver.accepted()
    counts = delivery.counts
    assert set(accepted) == set(queued_at) == counts.accepted_ids == counts.sent_ids
    assert counts.events == 3000 and delivery.pending() == 0 and counts.failed_deliveries == 0
    fresh = sum(len(times) for times in accepted.values())
    assert fresh == counts.events + counts.duplicates + counts.replays
    assert counts.deliveries == fresh + counts.stale_replays_sent

    repeated = sum(len(times) > 1 for times in accepted.values()) / 3000
    expected = 1 - (1 - plan.duplicate_share) * (1 - plan.replay_share)
    assert repeated == pytest.approx(expected, abs=0.03)
    assert counts.replays / 3000 == pytest.approx(plan.replay_share, abs=0.01)
    assert max(len(times) for times in accepted.values()) <= 4  # 3 copies and a replay

    late = [min(times) - queued_at[event_id] for event_id, times in accepted.items()]
    assert sum(d > timedelta(0) for d in late) / 3000 == pytest.approx(plan.delay_share,
                                                                      abs=0.015)
    assert counts.delayed == sum(d > timedelta(0) for d in late)
    assert all(t - queued_at[e] <= plan.max_delay for e, times in accepted.items() for t in times)


def test_copies_are_signed_when_sent_and_stale_replays_keep_the_old_signature():
    delivery, receiver, queued_at, headers = run(ChaosPlan(seed=9, replay_share=0.2), 400)
    for event_id, at, signed_at, header, status in receiver.log:
        if status == 200:
            assert signed_at == int(at.timestamp())  # re-signed at sending
        else:
            assert status == 400 and header == headers[event_id]
            assert at - queued_at[event_id] >= timedelta(hours=1)
    counts = delivery.counts
    assert counts.stale_replays_sent == counts.replays > 40
    assert counts.stale_replays_refused == counts.stale_replays_sent
    assert counts.stale_replays_accepted == 0
    delayed = [r for r in receiver.log if r[4] == 200 and r[1] > queued_at[r[0]]]
    assert delayed and all(r[2] > int(queued_at[r[0]].timestamp()) for r in delayed)


def test_events_due_together_are_shuffled_and_reproducibly_so():
    plan = ChaosPlan(seed=21, duplicate_share=0, delay_share=0, replay_share=0)
    _, receiver, _, _ = run(plan, 200)
    order = [entry[0] for entry in receiver.log]
    assert len(order) == len(set(order)) == 200
    batches = [order[i:i + 10] for i in range(0, 200, 10)]
    assert all(sorted(b) == [f"evt_{n:05d}" for n in range(i * 10, i * 10 + 10)]
               for i, b in enumerate(batches))  # shuffled only among events due together
    assert sum(b != sorted(b) for b in batches) >= 15
    _, again, _, _ = run(plan, 200)
    assert [entry[0] for entry in again.log] == order

    _, calm, _, _ = run(ChaosPlan.calm(seed=21), 200)
    assert [entry[0] for entry in calm.log] == [f"evt_{n:05d}" for n in range(200)]


def test_a_refused_delivery_is_sent_again_later():
    plan = ChaosPlan.calm(seed=2)
    delivery, receiver, _, _ = run(plan, 30, refuse_first={"evt_00003", "evt_00017"})
    attempts = [(at, status) for event_id, at, _t, _h, status in receiver.log
                if event_id == "evt_00003"]
    assert [status for _, status in attempts] == [503, 200]
    assert attempts[1][0] - attempts[0][0] == plan.redelivery_wait
    assert delivery.counts.failed_deliveries == 2
    assert delivery.counts.accepted_ids == {f"evt_{n:05d}" for n in range(30)}


def test_a_receiver_that_raises_keeps_the_copy_queued():
    clock = VirtualClock(START)
    calls = []

    def crash(body_text, header):
        calls.append(body_text)
        raise ConnectionError("receiver down")

    delivery = ChaoticDelivery(ChaosPlan.calm(seed=1), clock, secret=SECRET, deliver=crash)
    delivery(body(1), "t=0,v1=00")
    assert delivery.pending() == 1 and delivery.next_due() == START
    with pytest.raises(ConnectionError):
        delivery.deliver_due()
    assert delivery.pending() == 1 and len(calls) == 1
    assert delivery.counts.deliveries == 0


def test_a_body_without_an_id_is_still_delivered():
    clock = VirtualClock(START)
    got = []
    delivery = ChaoticDelivery(ChaosPlan.calm(seed=1), clock, secret=SECRET,
                               deliver=lambda b, h: got.append(b) or 200)
    delivery("not json", "t=0,v1=00")
    assert delivery.deliver_due() == 1 and got == ["not json"]
    assert len(delivery.counts.accepted_ids) == 1
