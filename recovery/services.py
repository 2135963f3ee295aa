"""The composition root's parts, built once from settings and shared by the app, worker and CLI."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlmodel import Session

from recovery.accounts import AccountDirectory
from recovery.clock import Clock, SystemClock
from recovery.db import SessionFactory, make_engine, session_factory
from recovery.ingest import FactHandler
from recovery.settings import Settings
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

    def close(self) -> None:
        self.db_engine.dispose()


def build_services(settings: Settings, clock: Clock | None = None) -> Services:
    db_engine = make_engine(settings.database_url)
    sessions = session_factory(db_engine)
    return Services(
        settings=settings,
        clock=clock or SystemClock(),
        db_engine=db_engine,
        sessions=sessions,
        accounts=AccountDirectory(sessions, settings),
    )
