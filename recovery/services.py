"""The composition root's parts, built once from settings and shared by the app, worker and CLI."""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlmodel import Session

from recovery.accounts import AccountDirectory
from recovery.action_steps import ActionSteps
from recovery.clock import Clock, SystemClock
from recovery.db import SessionFactory, make_engine, session_factory
from recovery.engine import RecoveryEngine
from recovery.engine_planning import Planner
from recovery.ingest import FactHandler
from recovery.notifier import MessageChannel, OutboxChannel
from recovery.rate_limit import TokenBucket, default_rate
from recovery.settings import Settings
from recovery.stripe_gateway import StripeGateway
from webhooks.facts import AnyFact

log = logging.getLogger("recovery.facts")


def log_fact(session: Session, account_id: str, fact: AnyFact) -> None:
    """The simplest handler: record that the fact arrived (used before an engine is wired)."""
    log.info("fact received", extra={"account": account_id, "fact": type(fact).__name__,
                                     "event": fact.event_id})


@dataclass
class Services:
    settings: Settings
    clock: Clock
    db_engine: Engine
    sessions: SessionFactory
    accounts: AccountDirectory
    handler: FactHandler = field(default=log_fact)
    engine: RecoveryEngine | None = None
    steps: ActionSteps | None = None
    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")

    def close(self) -> None:
        if self.engine is not None:
            self.engine.gateway.close()
        self.db_engine.dispose()


def build_gateway(settings: Settings, transport=None) -> StripeGateway:
    key = settings.stripe_api_key.get_secret_value() if settings.stripe_api_key else ""
    livemode = key.startswith(("sk_live_", "rk_live_"))  # restricted live keys are live too
    rate = settings.stripe_rate_limit_per_second or default_rate(livemode)
    return StripeGateway(key, api_base=settings.stripe_api_base, transport=transport,
                         rate_limiter=TokenBucket(rate, burst=max(int(rate), 1)))


def wire_engine(services: Services, gateway: StripeGateway, channel: MessageChannel,
                planner: Planner | None = None) -> None:
    """Connect the engine: facts go to it, and due actions run through it."""
    planner = planner or Planner(services.clock)
    engine = RecoveryEngine(gateway, services.clock, planner,
                            stripe_account_of=services.accounts.stripe_account_of)
    services.engine = engine
    services.handler = engine.handle
    services.steps = ActionSteps(services.sessions, services.clock, engine, channel)


def build_services(settings: Settings, clock: Clock | None = None) -> Services:
    db_engine = make_engine(settings.database_url)
    sessions = session_factory(db_engine)
    services = Services(
        settings=settings,
        clock=clock or SystemClock(),
        db_engine=db_engine,
        sessions=sessions,
        accounts=AccountDirectory(sessions, settings),
    )
    if settings.stripe_api_key is not None:
        wire_engine(services, build_gateway(settings), OutboxChannel(settings.outbox_path))
    return services
