"""The sandbox driver: the real pipeline against a fake Stripe and a World, on a virtual clock.

Real: the webhook endpoint (called in-process), inbox, parser, engine, scheduler jobs, the
gateway (stripe-python through an in-process transport) and the notifier. Simulated: Stripe
(``fake_stripe``) and the customers and issuers (the World). The clock jumps from one thing to
do to the next: renewals, customers' actions and the engine's due actions, in time order.
"""

from __future__ import annotations

import importlib
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from models import ActionStatus, ScheduledAction
from recovery.accounts.directory import ensure_default_account
from recovery.app import create_app
from recovery.engine.experiments import ExperimentPlan, start_experiment
from recovery.engine.planning import Planner
from recovery.engine.policy_versions import replace_policy
from recovery.rules.policy import RetryPolicy
from recovery.runtime import migrations
from recovery.runtime.clock import VirtualClock
from recovery.runtime.settings import Settings
from recovery.sandbox.asgi_client import AsgiClient
from recovery.sandbox.customers import Renewals, accept_world_offer, apply_customer_action
from recovery.sandbox.fake_stripe.fake import FakeStripe
from recovery.sandbox.oracle import OracleScorer
from recovery.sandbox.policies import is_oracle, offers_for, sends_messages
from recovery.sandbox.world.channel import WorldChannel
from recovery.sandbox.world.checks import check_actions
from recovery.sandbox.world.contract import Cancelled, OfferAccepted, World
from recovery.scoring.retraining import Retrainer
from recovery.stripe_api.gateway import StripeGateway
from recovery.wiring import Services, build_scorer, build_services, wire_engine
from recovery.worker.jobs import ingest_inbox, run_actions

DEFAULT_WORLD = "recovery.sandbox.world.builtin:make_world"
DEFAULT_START = datetime(2026, 1, 5, tzinfo=UTC)
WEBHOOK_SECRET = "whsec_sandbox_signing_secret"
TAIL = timedelta(days=30)  # after the last renewal, every failure gets its full 30 days
WINDOW = timedelta(hours=6)  # how much of the World's time is asked for at once
ACTION_SLICE = timedelta(minutes=10)
NEXT_DUE = select(func.min(ScheduledAction.due_at)).where(
    ScheduledAction.status == ActionStatus.scheduled.value)
# The engine's endpoint subscribes to the events it uses, as a real Stripe endpoint would.
# (``charge.failed`` repeats what the engine reads from the invoice's payments, so it is left
# out here to keep runs fast; the engine handles it when an account sends it.)
ENABLED_EVENTS = (
    "invoice.payment_failed", "invoice.paid", "invoice.voided",
    "invoice.marked_uncollectible", "invoice.payment_action_required", "payment_method.attached",
    "payment_method.automatically_updated", "customer.updated", "customer.subscription.deleted",
)


@dataclass(frozen=True)
class SimulationConfig:
    world: str = DEFAULT_WORLD
    subscribers: int = 1000
    days: int = 120
    warmup_days: int = 30
    seed: int = 1
    start: datetime = DEFAULT_START
    # Subscriptions keep renewing after dunning ends: the end-of-dunning action leaves them
    # past due instead of canceling or pausing them (customers may still cancel). Comparisons
    # use it, so a policy that cancels cannot drop repeat failers from its own count.
    keep_renewing: bool = False

    @property
    def mode(self) -> str:
        """Which renewals the run faced, in words (reports say it)."""
        if self.keep_renewing:
            return "keep renewing: subscriptions renew after dunning ends"
        return "policy endings: the end of dunning cancels or pauses as the policy says"


def renewing(policy: RetryPolicy) -> RetryPolicy:
    """The policy with its subscription left past due, and so still renewing, at the end."""
    return replace(policy, end_subscription="past_due")


def load_world(spec: str) -> Callable[..., World]:
    """``module:factory`` -> the factory."""
    module_name, _, factory = spec.partition(":")
    if not module_name or not factory:
        raise ValueError(f"--world must be module:factory, not {spec!r}")
    return getattr(importlib.import_module(module_name), factory)


class Sandbox:
    """One simulated account: world, fake Stripe and the engine on a fresh database.

    With a ``treatment``, the run is an A/B experiment: the account stores ``policy`` (the
    control) and the treatment as policy versions and runs an experiment between them from the
    start, so the engine plans each case by its customer's arm, as it would live.
    """

    def __init__(self, config: SimulationConfig, policy: RetryPolicy, workdir: Path,
                 template_db: Path | None = None, treatment: RetryPolicy | None = None) -> None:
        self.config = config
        self.policy = renewing(policy) if config.keep_renewing else policy
        self.treatment = renewing(treatment) if treatment and config.keep_renewing \
            else treatment
        self.clock = VirtualClock(config.start)
        self.world = load_world(config.world)(seed=config.seed, start=config.start,
                                              subscribers=config.subscribers)
        self.services = self._services(workdir, template_db)
        self.client = AsgiClient(create_app(self.services, run_worker=False))
        self.fake = FakeStripe(self.world, self.clock, webhook_secret=WEBHOOK_SECRET,
                               deliver=self._deliver, emit_success_events=False,
                               enabled_events=ENABLED_EVENTS, hold_webhooks=True)
        self.renewals = Renewals(self.world, self.fake)
        # The offers the run's messages may carry (none when it sends no messages), standing in
        # for the account's offers policy in the notify step.
        self.offers_policy = offers_for(self.policy)
        # Customers who cancelled themselves after the warm-up (what messages and offers may
        # talk them out of).
        self.cohort_start = config.start + timedelta(days=config.warmup_days)
        self.voluntary_cancellations = 0
        self._due_connection = self.services.db_engine.connect()
        self._due: datetime | None = None
        self._due_stale = True
        self.rejected_webhooks = 0
        # A smart policy retrains its scorer on the virtual clock, as the worker's job would.
        self._next_training = config.start + self._training_interval
        self.services.retrainer = Retrainer(
            min_attempts=self.services.settings.smart_min_attempts)
        self.experiment_id = self._start_experiment() if self.treatment else None
        self._wire()

    def _services(self, workdir: Path, template_db: Path | None) -> Services:
        path = workdir / "sandbox.db"
        if template_db is not None:
            shutil.copy(template_db, path)
        else:
            migrations.upgrade(f"sqlite:///{path}")
        settings = Settings(database_url=f"sqlite:///{path}", stripe_webhook_secrets=WEBHOOK_SECRET,
                            run_worker=False, stripe_api_key=None, ingest_batch_size=500)
        services = build_services(settings, self.clock)
        ensure_default_account(services.sessions, settings, self.clock)
        return services

    def _start_experiment(self) -> int:
        """The control and the treatment as the account's policy versions (the control last,
        so it is the account's own policy), and a 50/50 experiment between them."""
        account_id = self.services.settings.account_id
        treatment, control = (
            replace_policy(self.services.sessions, self.clock, account_id=account_id,
                           document=policy.to_dict(), author="sandbox").number
            for policy in (self.treatment, self.policy))
        plan = ExperimentPlan(f"{self.policy.name} vs {self.treatment.name}", control, treatment)
        return start_experiment(self.services.sessions, self.clock, account_id=account_id,
                                plan=plan, actor="sandbox").id

    def _wire(self) -> None:
        gateway = StripeGateway("sk_test_sandbox", transport=self.fake.transport())
        # Stripe holds no timezone; operators supply one per customer (here: the World's).
        scorer = OracleScorer(self.world, self.fake) if is_oracle(self.policy) \
            else build_scorer(self.services.settings)
        # An experiment plans from the account's stored versions, as a live account would.
        override = None if self.treatment else self.policy
        planner = Planner(self.clock, scorer=scorer, policy_override=override,
                          timezone_of=self.renewals.timezone_of,
                          send_messages=sends_messages(self.policy))
        wire_engine(self.services, gateway, WorldChannel(self.world, self.fake), planner,
                    offers_override=self.offers_policy)

    def _accept_offer(self, action: OfferAccepted) -> None:
        accept_world_offer(self.services, self.fake, action)
        self._due_stale = True  # accepting schedules the offer's steps (a prompt retry)

    def _deliver(self, body: str, signature: str) -> None:
        status, _ = self.client.post("/webhooks/stripe", body.encode(), {
            "stripe-signature": signature, "content-type": "application/json"})
        if status != 200:
            self.rejected_webhooks += 1

    # The loop

    @property
    def invoices(self) -> int:
        """Renewal invoices Stripe made."""
        return self.renewals.invoices

    def run(self, on_day: Callable[[int], None] | None = None,
            until: datetime | None = None) -> None:
        """Run the simulated period and its tail (``until``: stop there instead)."""
        end = self.config.start + timedelta(days=self.config.days)
        horizon, moment, day = end + TAIL, self.config.start, 0
        if until is not None:
            horizon = min(horizon, until)
        while moment < horizon:
            window_end = min(moment + WINDOW, horizon)
            self._run_window(moment, window_end, end)
            moment = window_end
            self._retrain_if_due()
            if on_day and (moment - self.config.start).days > day:
                day = (moment - self.config.start).days
                on_day(day)

    def _run_window(self, start: datetime, end: datetime, last_renewal: datetime) -> None:
        actions = check_actions(self.world.actions(start, end), start, end)
        todo = [(a.at, 1, n, a) for n, a in enumerate(actions)]
        todo += [(at, 0, sub_id, interval)
                 for at, sub_id, interval in self.renewals.due_before(end) if at < last_renewal]
        for at, kind, key, payload in sorted(todo, key=lambda item: (item[0], item[1], item[2])):
            self._advance_to(at)
            if kind == 0:
                self.renewals.renew(at, key, payload)
            else:
                if isinstance(payload, Cancelled) and at >= self.cohort_start:
                    self.voluntary_cancellations += 1
                apply_customer_action(self.fake, payload, self._accept_offer)
            self._pump()
        self._advance_to(end)

    @property
    def _training_interval(self) -> timedelta:
        return timedelta(hours=self.services.settings.retrain_every_hours)

    def _retrain_if_due(self) -> None:
        smart = any(p.timing == "smart" for p in (self.policy, self.treatment) if p)
        if not smart or is_oracle(self.policy) or self.clock.now() < self._next_training:
            return
        self.services.retrainer.retrain(self.services.sessions, self.clock,
                                        [self.services.settings.account_id])
        self._next_training = self.clock.now() + self._training_interval

    def _advance_to(self, moment: datetime) -> None:
        """Run every engine action due before ``moment``, each at its own time."""
        while True:
            due = self._next_due()
            if due is None or due >= moment:
                break
            # Actions due within the same few minutes run together at the end of that slice:
            # one claim for the batch, and no issuer behaviour changes within minutes.
            self.clock.set(min(max(_slice_end(due), self.clock.now()), moment))
            self.fake.tick()
            self._pump()
        self.clock.set(max(moment, self.clock.now()))
        self.fake.tick()

    def _next_due(self) -> datetime | None:
        # Asked before and after every step; only ingest and action runs change the queue, so
        # the answer is kept until one of them has run.
        if self._due_stale:
            self._due = self._due_connection.execute(NEXT_DUE).scalar()
            self._due_connection.rollback()  # end the read: a kept snapshot would go stale
            self._due_stale = False
        return self._due

    def _pump(self) -> None:
        """Deliver webhooks, ingest them and run what became due, until all is quiet."""
        while True:
            self.fake.check_world()
            delivered = self.fake.deliver_pending()
            if delivered:
                ingest_inbox(self.services)
                self._due_stale = True
            due = self._next_due()
            if due is not None and due <= self.clock.now():
                run_actions(self.services)
                self._due_stale = True
            elif not delivered:
                return

    def close(self) -> None:
        self._due_connection.close()
        self.client.close()
        self.services.close()


def _slice_end(moment: datetime) -> datetime:
    """The end of the ``ACTION_SLICE`` that contains ``moment``."""
    offset = (moment - DEFAULT_START) % ACTION_SLICE
    return moment if not offset else moment + (ACTION_SLICE - offset)


def temporary_workdir() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="recovery-sandbox-")
