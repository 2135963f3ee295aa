"""The worker gives way to a burst of webhooks, but never for longer than its deferral."""

from __future__ import annotations

import logging

import pytest

from recovery.ingest.inbox import inbox_high_water
from recovery.worker.jobs import ingest_inbox
from recovery.worker.yielding import ReceiverYield
from tests.conftest import WEBHOOK_SECRET
from tests.webhooks import payloads as p
from tests.webhooks.signing import signed_request


class Arrivals:
    """A fake inbox high-water mark and clock: ``arrive(n, seconds)`` stores n events over
    that many seconds."""

    def __init__(self) -> None:
        self.high_water, self.now = 0, 1000.0

    def arrive(self, events: int, seconds: float) -> None:
        self.high_water += events
        self.now += seconds


def gate(arrivals: Arrivals, **options) -> ReceiverYield:
    settings = {"busy_per_second": 100, "max_deferral_seconds": 30, "check_seconds": 0.5,
                **options}
    return ReceiverYield(lambda: arrivals.high_water, monotonic=lambda: arrivals.now, **settings)


def test_busy_only_while_deliveries_arrive_faster_than_the_threshold():
    arrivals = Arrivals()
    receiver_yield = gate(arrivals)
    assert not receiver_yield.busy()  # the first reading has nothing to compare with
    arrivals.arrive(99, 1.0)
    assert not receiver_yield.busy()
    arrivals.arrive(100, 1.0)
    assert receiver_yield.busy()
    arrivals.arrive(0, 0.2)  # read again only after check_seconds: the last answer stands
    assert receiver_yield.busy()
    arrivals.arrive(10, 1.0)
    assert not receiver_yield.busy()


def test_a_job_is_put_off_during_a_burst_for_at_most_its_deferral_then_runs_once():
    arrivals = Arrivals()
    receiver_yield = gate(arrivals, max_deferral_seconds=30)
    receiver_yield.busy()
    ran_at = []
    for second in range(70):  # a burst of 1,000 deliveries/s for 70 s, a tick per second
        arrivals.arrive(1000, 1.0)
        if not receiver_yield.defer("ingest_inbox"):
            ran_at.append(second)
    assert ran_at == [30, 60]
    arrivals.arrive(0, 1.0)  # the burst is over: every tick runs again
    assert not receiver_yield.defer("ingest_inbox")
    assert not receiver_yield.defer("ingest_inbox")


def test_jobs_wait_on_their_own_clocks():
    arrivals = Arrivals()
    receiver_yield = gate(arrivals, max_deferral_seconds=5)
    receiver_yield.busy()
    arrivals.arrive(1000, 1.0)
    assert receiver_yield.defer("ingest_inbox")
    arrivals.arrive(4000, 4.0)
    assert receiver_yield.defer("run_actions")  # its wait starts now
    arrivals.arrive(1000, 1.0)
    assert not receiver_yield.defer("ingest_inbox")  # waited 5 s
    assert receiver_yield.defer("run_actions")  # waited 1 s


def test_zero_threshold_never_gives_way_and_never_reads_the_database():
    def unreadable() -> int:
        raise AssertionError("read the inbox")

    receiver_yield = ReceiverYield(unreadable, busy_per_second=0, max_deferral_seconds=30)
    assert not receiver_yield.busy() and not receiver_yield.defer("ingest_inbox")


def test_an_unreadable_rate_lets_the_work_go_on(caplog):
    def unreadable() -> int:
        raise ConnectionError("database down")

    receiver_yield = ReceiverYield(unreadable, busy_per_second=100, max_deferral_seconds=30)
    with caplog.at_level(logging.WARNING):
        assert not receiver_yield.defer("ingest_inbox")
    assert "arrival rate" in caplog.text


def post_events(client, services, event_type: str, count: int) -> None:
    for number in range(count):
        body, headers = signed_request(
            p.invoice_event(event_type, p.LATEST, event_id=f"evt_{event_type}_{number}",
                            created=services.clock.now()),
            WEBHOOK_SECRET, services.clock.now())
        assert client.post("/webhooks/stripe", content=body, headers=headers).status_code == 200


def test_the_high_water_mark_counts_stored_events(client, services):
    assert inbox_high_water(services.sessions) == 0
    post_events(client, services, "invoice.payment_failed", 3)
    assert inbox_high_water(services.sessions) >= 3


@pytest.mark.parametrize("busy", [False, True])
def test_a_drain_stops_after_the_batch_in_hand_while_webhooks_arrive_fast(client, services,
                                                                          busy):
    services.settings = services.settings.model_copy(update={"ingest_batch_size": 2})
    services.give_way = lambda: busy
    post_events(client, services, "customer.updated", 5)
    assert ingest_inbox(services) == (2 if busy else 5)
