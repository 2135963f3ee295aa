"""The chaos driver: the sandbox's run with the engine's worker in separate processes, under faults.

The World, the fake Stripe (served on loopback HTTP) and the webhook receiver stay in the
driver's process; the worker's jobs run in ``WorkerPool`` processes. A ``ChaosPlan`` decides,
from its seed, which webhooks are duplicated, delayed, reordered and replayed
(``ChaoticDelivery``), which API calls fail and how (``ChaoticTransport``, in each worker, which
also kills its worker with SIGKILL before or after a charge), and, on PostgreSQL, in which steps
a worker's connection is dropped in the middle of its work. A calm plan runs the very same
machinery with no fault, which is what a chaos run is compared with.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from recovery.accounts.directory import ensure_default_account
from recovery.messaging.notifier import OutgoingMessage
from recovery.rules.policy import RetryPolicy
from recovery.runtime import migrations
from recovery.runtime.settings import Settings
from recovery.sandbox.chaos.plan import ChaosPlan
from recovery.sandbox.chaos.settling import Unsettled, next_wakeup, unsettled
from recovery.sandbox.chaos.webhooks import ChaoticDelivery
from recovery.sandbox.chaos.workers import WorkerPool, WorkerSpec
from recovery.sandbox.run import TAIL, WEBHOOK_SECRET, Sandbox, SimulationConfig
from recovery.sandbox.world.channel import WorldChannel
from recovery.wiring import Services, build_services

log = logging.getLogger("recovery.sandbox.chaos")
WORKER_APPLICATION = "recovery-chaos-worker"  # how the driver finds the workers' connections
# How much virtual time the drain may take after the horizon before the run is judged as it
# stands. The drain ends as soon as the run has settled; this only bounds a run that never does.
# It covers the longest wait the engine or Stripe may add: a webhook delayed up to the plan's
# ``max_delay`` (3 days) and redelivered, then backoffs capped at an hour.
DRAIN_LIMIT = timedelta(days=7)


@dataclass
class DropCounts:
    tried: int = 0
    dropped: int = 0  # connections terminated while active or inside a transaction


class ChaosSandbox(Sandbox):
    """A ``Sandbox`` whose worker runs in ``workers`` processes, on SQLite or PostgreSQL."""

    def __init__(self, config: SimulationConfig, policy: RetryPolicy, workdir: Path, *,
                 plan: ChaosPlan, workers: int = 1, database_url: str | None = None) -> None:
        self._database_url = database_url or f"sqlite:///{workdir / 'chaos.db'}"
        self.plan = plan
        super().__init__(config, policy, workdir)
        self.delivery = ChaoticDelivery(plan, self.clock, secret=WEBHOOK_SECRET,
                                        deliver=self._post_webhook)
        self.delivered_message_ids: set[str] = set()
        self._world_channel = WorldChannel(self.world, self.fake)
        self._fake_server = self.fake.serve()
        self.drops = DropCounts()
        self._wakeup: datetime | None = None  # leases, re-sends, inbox rows (``settling``)
        self._last_step: datetime | None = None
        self.pool = WorkerPool(workers, self._worker_spec(), self._deliver_message)

    # --- set-up -------------------------------------------------------------------------------

    def _services(self, workdir: Path, template_db: Path | None) -> Services:
        migrations.upgrade(self._database_url)
        settings = Settings(database_url=self._database_url,
                            stripe_webhook_secrets=WEBHOOK_SECRET, run_worker=False,
                            stripe_api_key=None, ingest_batch_size=500)
        services = build_services(settings, self.clock)
        ensure_default_account(services.sessions, settings, self.clock)
        return services

    def _wire(self) -> None:
        """The driver's process only receives webhooks: the engine runs in the workers."""

    def _worker_spec(self) -> WorkerSpec:
        url = make_url(self._database_url)
        if url.get_backend_name() == "postgresql":
            url = url.update_query_dict({"application_name": WORKER_APPLICATION})
        return WorkerSpec(
            database_url=url.render_as_string(hide_password=False),
            fake_stripe_url=self._fake_server.url, webhook_secret=WEBHOOK_SECRET,
            policy=self.policy, start=self.config.start,
            timezones=dict(self.renewals.timezones), plan=self.plan)

    @property
    def is_postgres(self) -> bool:
        return self.services.db_engine.dialect.name == "postgresql"

    # --- the ways out of the driver -------------------------------------------------------------

    def _deliver(self, body: str, signature: str) -> None:
        self.delivery(body, signature)  # queued: ChaoticDelivery decides when and how often

    def _post_webhook(self, body: str, signature: str) -> int:
        status, _ = self.client.post("/webhooks/stripe", body.encode(), {
            "stripe-signature": signature, "content-type": "application/json"})
        if status != 200:
            self.rejected_webhooks += 1
        return status

    def _deliver_message(self, message: OutgoingMessage) -> None:
        with self.fake.exclusive():  # the World is not thread-safe; the fake's server calls it too
            self._world_channel.deliver(message)
        if message.message_id:
            self.delivered_message_ids.add(message.message_id)

    # --- the loop -------------------------------------------------------------------------------

    def _pump(self) -> None:
        """Deliver due webhooks and step the workers until nothing is left to do now."""
        while True:
            self.fake.check_world()
            self.fake.deliver_pending()
            delivered = self.delivery.deliver_due()
            due = self._next_due()
            if not delivered and (due is None or due > self.clock.now()):
                return
            ran = self.pool.step(self.clock.now(), during=self._maybe_drop_connection)
            self._last_step = self.clock.now()
            self._due_stale = True
            if not ran and not delivered and not self.fake.pending_webhooks():
                return  # what is due cannot run yet (a dead worker's lease, quiet hours)

    def _next_due(self) -> datetime | None:
        stale = self._due_stale
        due = super()._next_due()
        if stale:
            self._wakeup = next_wakeup(self._due_connection, last_step=self._last_step)
            self._due_connection.rollback()
        moments = [m for m in (due, self._wakeup, self.delivery.next_due()) if m is not None]
        return min(moments, default=None)

    def drain(self) -> Unsettled:
        """After the horizon: step the workers, moving the virtual clock on to each moment they
        would find work (leases running out, inbox rows to try, late webhooks, re-sends), until
        the engine has nothing left in hand, so that what is still undone at the end is lost,
        not merely late. Only virtual time bounds it (``DRAIN_LIMIT``), never wall time: a slow
        machine takes longer, it does not judge sooner. Returns what is left (nothing, unless
        the limit was reached)."""
        limit = self.clock.now() + DRAIN_LIMIT
        left = self.unsettled()
        while left and self.clock.now() < limit:
            self._due_stale = True
            due = self._next_due()
            if due is None:
                break
            self._advance_to(min(max(due, self.clock.now()) + timedelta(seconds=1), limit))
            self._pump()
            left = self.unsettled()
        if left:
            log.warning("the chaos run did not settle within the drain", extra={"left": left})
        return left

    def unsettled(self) -> Unsettled:
        on_the_way = self.delivery.pending() + self.fake.pending_webhooks()
        with self.services.sessions() as session:
            return unsettled(session, on_the_way)

    # --- PostgreSQL connection drops -------------------------------------------------------------

    def _maybe_drop_connection(self) -> None:
        if not self.is_postgres:
            return
        step = self.pool.counts.steps
        if self.plan.draw("drop", step) >= self.plan.connection_drop_share:
            return
        self.drops.tried += 1
        time.sleep(0.005 + 0.03 * self.plan.draw("drop-delay", step))
        self.drops.dropped += terminate_a_worker_connection(self._database_url,
                                                            self.plan.draw("drop-which", step))

    def close(self) -> None:
        self.pool.close()
        self._fake_server.stop()
        super().close()


def terminate_a_worker_connection(database_url: str, pick: float) -> int:
    """Terminate one worker connection that is running a statement or is inside a transaction;
    1 when one was found."""
    url = make_url(database_url).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND datname = "
            "current_database() AND state IN ('active', 'idle in transaction') ORDER BY pid",
            (WORKER_APPLICATION,)).fetchall()
        if not rows:
            return 0
        pid = rows[min(int(pick * len(rows)), len(rows) - 1)][0]
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        return 1


def horizon_of(config: SimulationConfig) -> datetime:
    return config.start + timedelta(days=config.days) + TAIL
