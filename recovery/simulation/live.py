"""The live sandbox behind ``make run`` when no Stripe key is set: a simulated account whose
clock runs fast, driven in a background thread, posting real webhooks to the running server.

Only Stripe and its customers are simulated: the webhook endpoint, inbox, engine, scheduler
jobs, gateway (through an in-process transport) and notifier are the real ones.
"""

from __future__ import annotations

import heapq
import logging
import threading
from datetime import timedelta

import httpx

from recovery.engine_planning import Planner
from recovery.services import Services, wire_engine
from recovery.simulation.fake_stripe import FakeStripe
from recovery.simulation.run import ENABLED_EVENTS, load_world
from recovery.simulation.world import Cancelled, CardUpdated, PaidOnSession
from recovery.simulation.world_channel import WorldChannel
from recovery.stripe_gateway import StripeGateway

log = logging.getLogger("recovery.sandbox")
SANDBOX_SECRET = "whsec_live_sandbox_secret"


class LiveSandbox:
    def __init__(self, services: Services, webhook_url: str, *, subscribers: int,
                 world: str, seed: int = 1, step_seconds: float = 0.2) -> None:
        self.services, self.clock = services, services.clock
        self.start = self.clock.now()
        self.world = load_world(world)(seed=seed, start=self.start, subscribers=subscribers)
        self.http = httpx.Client(timeout=10)
        self.webhook_url = webhook_url
        self.fake = FakeStripe(self.world, self.clock, webhook_secret=SANDBOX_SECRET,
                               deliver=self._deliver, emit_success_events=False,
                               enabled_events=ENABLED_EVENTS, hold_webhooks=True)
        self.step_seconds = step_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sandbox", daemon=True)
        timezones = {}
        self._renewals = []
        for sub in self.world.subscribers():
            ids = self.fake.add_subscriber(sub)
            timezones[ids.customer_id] = sub.timezone
            self._renewals.append((sub.first_renewal_at, sub.id, sub.interval_days))
        heapq.heapify(self._renewals)
        planner = Planner(self.clock, timezone_of=lambda customer: timezones.get(customer, "UTC"))
        gateway = StripeGateway("sk_test_sandbox", transport=self.fake.transport())
        wire_engine(services, gateway, WorldChannel(self.world, self.fake), planner)

    def _deliver(self, body: str, signature: str) -> None:
        response = self.http.post(self.webhook_url, content=body, headers={
            "Stripe-Signature": signature, "Content-Type": "application/json"})
        response.raise_for_status()  # undelivered events stay queued for the next step

    def start_thread(self) -> None:
        speed = getattr(self.clock, "speed", 1)
        log.warning("SANDBOX MODE: no Stripe key is set, so a simulated Stripe account and %d "
                    "simulated customers stand in; one simulated day passes every %g s. No "
                    "real payment is made.", len(self.world.subscribers()), 86400 / speed)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.http.close()

    def _loop(self) -> None:
        last = self.start
        while not self._stop.wait(self.step_seconds):
            try:
                last = self._step(last)
            except Exception:  # noqa: BLE001 - the demo keeps running; the next step retries
                log.exception("sandbox step failed")

    def _step(self, since) -> object:
        now = self.clock.now()
        self._renew_until(now)
        for action in self.world.actions(since, now):
            self._apply(action)
        self.fake.tick()
        try:
            self.fake.deliver_pending()
        except httpx.HTTPError as problem:
            log.warning("sandbox webhook delivery failed; will retry", extra={
                "error": str(problem)[:200]})
        return now

    def _renew_until(self, now) -> None:
        while self._renewals and self._renewals[0][0] <= now:
            at, sub_id, interval = heapq.heappop(self._renewals)
            invoice = self.fake.renew(sub_id)
            if invoice is not None:
                log.info("sandbox renewal", extra={"subscriber": sub_id, "invoice": invoice})
                heapq.heappush(self._renewals, (at + timedelta(days=interval), sub_id, interval))

    def _apply(self, action) -> None:
        if isinstance(action, CardUpdated):
            self.fake.update_card(action.subscriber_id, action.card, action.automatic)
        elif isinstance(action, PaidOnSession):
            self.fake.pay_on_session(action.subscriber_id, action.invoice_id)
        elif isinstance(action, Cancelled):
            self.fake.cancel_by_customer(action.subscriber_id)
