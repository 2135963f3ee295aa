"""The live sandbox behind ``make run`` when no Stripe key is set: a simulated account whose
clock runs fast, driven in a background thread, posting real webhooks to the running server.

Only Stripe and its customers are simulated: the webhook endpoint, inbox, engine, scheduler
jobs, gateway (through an in-process transport) and notifier are the real ones. Webhooks are
signed with the secret the receiver is configured with, at the real time of delivery: the
receiver judges a signature's age in real time, however fast the simulated clock runs.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import httpx

from recovery.engine.planning import Planner
from recovery.messaging.outbox import EmlOutboxChannel
from recovery.offers.eligibility import OffersPolicy
from recovery.runtime.clock import wall_clock
from recovery.sandbox.customers import Renewals, accept_world_offer, apply_customer_action
from recovery.sandbox.fake_stripe.fake import FakeStripe
from recovery.sandbox.policies import SANDBOX_OFFERS
from recovery.sandbox.run import ENABLED_EVENTS, load_world
from recovery.sandbox.world.channel import BothChannels, WorldChannel
from recovery.sandbox.world.checks import WorldContractError, check_actions
from recovery.stripe_api.gateway import StripeGateway
from recovery.wiring import Services, build_scorer, wire_engine

log = logging.getLogger("recovery.sandbox")
SANDBOX_SECRET = "whsec_live_sandbox_secret"


def signing_secret(services: Services) -> str:
    """The secret the receiver checks first (``RECOVERY_STRIPE_WEBHOOK_SECRETS``), as Stripe
    signs with the endpoint's current secret; the sandbox's own when none is configured."""
    secrets = services.settings.webhook_secrets
    return secrets[0] if secrets else SANDBOX_SECRET


class LiveSandbox:
    def __init__(self, services: Services, webhook_url: str, *, subscribers: int,
                 world: str, seed: int = 1, step_seconds: float = 0.2) -> None:
        self.services, self.clock = services, services.clock
        self.start = self.clock.now()
        self.world = load_world(world)(seed=seed, start=self.start, subscribers=subscribers)
        self.http = httpx.Client(timeout=10)
        self.webhook_url = webhook_url
        self.fake = FakeStripe(self.world, self.clock, webhook_secret=signing_secret(services),
                               deliver=self._deliver, emit_success_events=False,
                               enabled_events=ENABLED_EVENTS, hold_webhooks=True,
                               signing_clock=wall_clock(self.clock))
        self.step_seconds = step_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sandbox", daemon=True)
        self.renewals = Renewals(self.world, self.fake)
        planner = Planner(self.clock, scorer=build_scorer(services.settings),
                          timezone_of=self.renewals.timezone_of)
        gateway = StripeGateway("sk_test_sandbox", transport=self.fake.transport())
        # The simulated customers hear every message; the rendered emails also land in the
        # outbox folder, where an operator trying the engine offline can open them.
        outbox = EmlOutboxChannel(services.settings.outbox_dir,
                                  mail_from=services.settings.mail_from)
        channel = BothChannels(WorldChannel(self.world, self.fake), outbox)
        wire_engine(services, gateway, channel, planner,
                    offers_override=OffersPolicy.from_mapping(SANDBOX_OFFERS))

    def state(self) -> dict[str, object]:
        """What the dashboard's sandbox page shows: the virtual time and what the simulated
        Stripe has done so far."""
        now = self.clock.now()
        speed = getattr(self.clock, "speed", 1)
        events = self.fake.events_sent()
        return {
            "virtual time": now.strftime("%Y-%m-%d %H:%M UTC"),
            "started at": self.start.strftime("%Y-%m-%d %H:%M UTC"),
            "simulated days so far": f"{(now - self.start).total_seconds() / 86400:.1f}",
            "one simulated day takes": f"{86400 / speed:g} s",
            "world": self.services.settings.sandbox_world,
            "subscribers": len(self.world.subscribers()),
            "charges asked of the world": self.fake.world_charges,
            "payment failures sent": events.get("invoice.payment_failed", 0),
            "webhooks sent": sum(events.values()),
            "webhooks waiting": self.fake.pending_webhooks(),
            "Stripe API requests served": sum(self.fake.api_calls().values()),
        }

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
            except WorldContractError:
                # A World that breaks its contract will not mend: stop rather than run on
                # without part of what it said.
                log.exception("the World broke its contract; the sandbox stops")
                return
            except Exception:  # noqa: BLE001 - the demo keeps running; the next step retries
                log.exception("sandbox step failed")

    def _step(self, since) -> object:
        now = self.clock.now()
        # Renewals due up to now (inclusive): the next step starts just after this one.
        for at, sub_id, interval in self.renewals.due_before(now + timedelta(microseconds=1)):
            self.renewals.renew(at, sub_id, interval)
        for action in check_actions(self.world.actions(since, now), since, now):
            apply_customer_action(
                self.fake, action, lambda accepted: accept_world_offer(self.services, self.fake,
                                                                       accepted))
        self.fake.tick()
        self.fake.check_world()
        try:
            self.fake.deliver_pending()
        except httpx.HTTPError as problem:
            log.warning("sandbox webhook delivery failed; will retry", extra={
                "error": str(problem)[:200]})
        return now
