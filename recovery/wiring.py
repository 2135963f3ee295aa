"""The composition root's parts, built once from settings and shared by the app, worker and CLI."""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import Engine
from sqlmodel import Session

from recovery.accounts.connect import AccountDesk
from recovery.accounts.directory import AccountDirectory
from recovery.actions.message_content import MessageContent, MessageSetup
from recovery.actions.offer import accept_offer
from recovery.actions.outbound_post import OutboundPoster
from recovery.actions.steps import ActionSteps
from recovery.engine.fact_handlers import RecoveryEngine
from recovery.engine.planning import Planner
from recovery.ingest.inbox import FactHandler
from recovery.messaging.links import LinkSigner
from recovery.messaging.notifier import ChannelsByKind, MessageChannel
from recovery.messaging.outbox import EmlOutboxChannel
from recovery.messaging.preferences import preferences_reader
from recovery.messaging.sms import SmsChannel
from recovery.messaging.smtp import SmtpChannel
from recovery.offers.eligibility import OffersPolicy
from recovery.runtime.clock import Clock, SystemClock
from recovery.runtime.db import SessionFactory, make_engine, session_factory
from recovery.runtime.secret_files import generated_secret
from recovery.runtime.settings import Settings
from recovery.scoring.retraining import Retrainer
from recovery.scoring.smart import MlParts, SmartScorer
from recovery.stripe_api.access import key_livemode
from recovery.stripe_api.gateway import StripeGateway
from recovery.stripe_api.rate_limit import RateLimiter, TokenBucket, default_rate
from recovery.stripe_api.shared_rate_limit import SharedRateLimiter
from webhooks.facts import AnyFact

log = logging.getLogger("recovery.facts")


def log_fact(session: Session, account_id: str, fact: AnyFact) -> None:
    """The simplest handler: record that the fact arrived (used before an engine is wired)."""
    log.info("fact received", extra={"account": account_id, "fact": type(fact).__name__,
                                     "event": fact.event_id})


def worker_id_for(pid: int) -> str:
    """The id a worker process claims rows under: ``recovery serve`` names its worker child's
    claims with it, to hand them back when the child is gone."""
    return f"{socket.gethostname()}-{pid}"


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
    channel: MessageChannel | None = None
    worker_id: str = field(default_factory=lambda: worker_id_for(os.getpid()))
    # Set when the process is stopping: jobs finish the batch in hand and start no other.
    stopping: threading.Event = field(default_factory=threading.Event)
    # True while webhooks arrive in a burst: jobs end their drain after the batch in hand
    # (``recovery.worker.yielding``; a ``recovery worker`` process sets it).
    give_way: Callable[[], bool] = field(default=lambda: False)
    # Retrains smart-timing accounts' models, remembering what each last trained on.
    retrainer: Retrainer | None = None
    # Signs and opens customers' links; None with a real Stripe key and no link secret.
    link_signer: LinkSigner | None = None
    # Applies an offer a customer accepted through its link: (account_id, offer_id) -> None.
    accept_offer: Callable[[str, int], None] | None = None
    # A new billing-portal session for a customer's card update: (account_id, customer) -> URL.
    card_update_page: Callable[[str, str], str] | None = None
    # The dashboard's session-cookie key, read on first use; None when none is configured.
    session_secret: Callable[[], str] | None = None

    def close(self) -> None:
        if self.engine is not None:
            self.engine.gateway.close()
        close_channel = getattr(self.channel, "close", None)
        if close_channel is not None:
            close_channel()
        if self.steps is not None and self.steps.context.outbound is not None:
            self.steps.context.outbound.close()
        self.db_engine.dispose()


def build_gateway(settings: Settings, transport=None,
                  db_engine: Engine | None = None) -> StripeGateway:
    """The gateway for the configured key; with ``db_engine`` its pacing is shared by every
    process using that database, without it each process paces alone."""
    key = settings.stripe_api_key.get_secret_value() if settings.stripe_api_key else ""
    livemode = key_livemode(key) is True  # restricted live keys are live too
    rate = settings.stripe_rate_limit_per_second or default_rate(livemode)
    return StripeGateway(key, api_base=settings.stripe_api_base, transport=transport,
                         rate_limiter=build_rate_limiter(rate, db_engine),
                         transient_retries=settings.stripe_transient_retries)


def account_desk(services: Services) -> AccountDesk:
    """What connecting and removing accounts needs; without Stripe (the sandbox) no gateway."""
    gateway = services.engine.gateway if services.engine is not None else None
    return AccountDesk(services.sessions, services.clock, services.settings, services.accounts,
                       gateway)


def build_rate_limiter(rate_per_second: float | None, db_engine: Engine | None) -> RateLimiter:
    """Stripe's limit is per account, not per process: when worker processes share a database
    they reserve request slots there, so n workers still send at most ``rate`` requests/s."""
    burst = max(int(rate_per_second), 1) if rate_per_second is not None else None
    if db_engine is None or rate_per_second is None:
        return TokenBucket(rate_per_second, burst=burst)
    return SharedRateLimiter(rate_per_second, burst=burst, db_engine=db_engine)


def build_scorer(settings: Settings) -> SmartScorer:
    """The scorer of smart-timing policies: the decline-aware prior, then each account's own
    promoted artifact once it has ``smart_min_attempts`` attempts. Fixed policies never ask it."""
    return SmartScorer(min_attempts=settings.smart_min_attempts, ml=ml_parts())


def ml_parts() -> MlParts:
    """The ``ml`` functions the scorer reads artifacts, snapshots and features with, imported
    on first use: scikit-learn and pandas take seconds to import, and a process whose accounts
    all use fixed timing (or a worker that must start and stop quickly) never needs them."""

    def active_artifact(session, account_id):
        from ml.registry import active_artifact as read  # noqa: PLC0415

        return read(session, account_id)

    def snapshots_for_cases(session, account_id, case_ids, as_of):
        from ml.history import snapshots_for_cases as read  # noqa: PLC0415

        return read(session, account_id, case_ids, as_of)

    def candidate_frames(pairs):
        from ml.features import candidate_frames as build  # noqa: PLC0415

        return build(pairs)

    return MlParts(active_artifact, snapshots_for_cases, candidate_frames)


def wire_engine(services: Services, gateway: StripeGateway, channel: MessageChannel,
                planner: Planner | None = None, *,
                offers_override: OffersPolicy | None = None) -> None:
    """Connect the engine: facts go to it, and due actions run through it; customers' links
    (an accepted offer, a card update) reach it too. ``offers_override``: the sandbox's offers
    policy, standing in for each account's."""
    planner = planner or Planner(services.clock, scorer=build_scorer(services.settings))
    engine = RecoveryEngine(gateway, services.clock, planner,
                            stripe_account_of=services.accounts.stripe_account_of)
    services.engine = engine
    services.handler = engine.handle
    services.channel = channel
    settings = services.settings
    content = MessageContent(
        MessageSetup(services.link_signer, settings.public_base_url, offers_override,
                     settings.mail_from),
        window_days_of=lambda session, account_id: planner.policy(session, account_id)
        .window_days)
    steps = ActionSteps(
        services.sessions, services.clock, engine, channel,
        resend_after=timedelta(seconds=settings.message_resend_grace_seconds),
        message_max_tries=settings.message_max_tries, content=content,
        outbound=OutboundPoster.from_settings(settings, services.clock))
    services.steps = steps

    def accept(account_id: str, offer_id: int) -> None:
        accept_offer(steps, account_id, offer_id, worker_id=services.worker_id,
                     max_tries=settings.message_max_tries)

    def card_update_page(account_id: str, customer_id: str) -> str:
        return gateway.card_update_link(
            customer_id, settings.card_update_return_url or settings.public_base_url,
            stripe_account=services.accounts.stripe_account_of(account_id))

    services.accept_offer = accept
    services.card_update_page = card_update_page


def build_channel(settings: Settings, sessions: SessionFactory) -> MessageChannel:
    """Email through SMTP when a host is set, else to .eml files in the outbox folder; with SMS
    enabled, each message goes to the channel it names."""
    email: MessageChannel
    if settings.smtp_host:
        if not settings.public_base_url.startswith("https://"):
            log.warning("public_base_url is not https: mailbox providers ignore one-click "
                        "unsubscribe links that are not (RFC 8058)")
        email = SmtpChannel(settings.smtp_host, settings.smtp_port, settings.smtp_security,
                            settings.smtp_username, settings.smtp_password,
                            settings.smtp_timeout_seconds, mail_from=settings.mail_from)
    else:
        email = EmlOutboxChannel(settings.outbox_dir, mail_from=settings.mail_from)
    if not settings.sms_enabled:
        return email
    sms = SmsChannel(settings.sms_base_url, settings.sms_account_sid or "",
                     settings.sms_auth_token or "", settings.sms_from or "",
                     httpx.Client(timeout=settings.sms_timeout_seconds),
                     preferences=preferences_reader(sessions))
    return ChannelsByKind({"email": email, "sms": sms})


def build_link_signer(settings: Settings, clock: Clock) -> LinkSigner | None:
    """The configured ``link_secret``; in the sandbox, a generated one kept in
    ``link_secret_path`` (written when the first link is made); None otherwise (a real Stripe
    account must set RECOVERY_LINK_SECRET, the same on every process, before links are used)."""
    max_age = timedelta(days=settings.link_max_age_days)
    if settings.link_secret is not None:
        return LinkSigner(settings.link_secret.get_secret_value(), max_age, clock=clock)
    if settings.sandbox:
        path = settings.link_secret_path
        return LinkSigner(lambda: sandbox_link_secret(path), max_age, clock=clock)
    return None


def sandbox_link_secret(path: Path) -> str:
    """The sandbox's link secret, generated (owner read/write only) on first use."""
    return generated_secret(path, lambda: secrets.token_urlsafe(32).encode(),
                            "link secret").decode()


def build_session_secret(settings: Settings) -> Callable[[], str] | None:
    """The configured ``session_secret``; in the sandbox, a generated one kept in
    ``session_secret_path``; None otherwise (the dashboard then signs nobody in)."""
    if settings.session_secret is not None:
        secret = settings.session_secret.get_secret_value()
        return lambda: secret
    if settings.sandbox:
        path = settings.session_secret_path
        return lambda: generated_secret(path, lambda: secrets.token_urlsafe(32).encode(),
                                        "session secret").decode()
    return None


def build_services(settings: Settings, clock: Clock | None = None) -> Services:
    db_engine = make_engine(settings.database_url)
    sessions = session_factory(db_engine)
    clock = clock or SystemClock()
    services = Services(
        settings=settings,
        clock=clock,
        db_engine=db_engine,
        sessions=sessions,
        accounts=AccountDirectory(sessions, settings),
        link_signer=build_link_signer(settings, clock),
        session_secret=build_session_secret(settings),
    )
    if settings.stripe_api_key is not None:
        gateway = build_gateway(settings, db_engine=db_engine)
        wire_engine(services, gateway, build_channel(settings, sessions))
    return services
