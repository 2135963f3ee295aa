"""Outbound events in tests: configure an endpoint the way the API and CLI do, and read back the
events, the deliveries and their log."""

from __future__ import annotations

from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlmodel import select

from models import ActionKind, OutboundDelivery, OutboundEvent, ScheduledAction
from recovery.accounts.outbound_endpoints import CreatedEndpoint, create_endpoint
from recovery.accounts.secret_box import SecretBox


def add_endpoint(services, url: str, event_types=None) -> CreatedEndpoint:
    return create_endpoint(services.sessions, SecretBox.from_settings(services.settings),
                           services.clock, services.settings.account_id, url, event_types,
                           allow_local_http=True)


def events(services) -> list[OutboundEvent]:
    with services.sessions() as session:
        return list(session.exec(select(OutboundEvent).order_by(OutboundEvent.id)))


def event_types(services) -> list[str]:
    return [event.type for event in events(services)]


def deliveries(services) -> list[ScheduledAction]:
    """The ``outbound_event`` actions, oldest first."""
    with services.sessions() as session:
        return list(session.exec(
            select(ScheduledAction).where(ScheduledAction.kind == ActionKind.outbound_event.value)
            .order_by(ScheduledAction.id)))


def delivery_log(services) -> list[OutboundDelivery]:
    with services.sessions() as session:
        return list(session.exec(select(OutboundDelivery).order_by(OutboundDelivery.id)))


def outbound_settings(settings, **more):
    """The tests' settings with a secrets key (endpoint secrets are sealed) and plain http to
    this machine allowed (the receiver is a local server)."""
    key = SecretStr(Fernet.generate_key().decode())
    return settings.model_copy(update={"secrets_key": key, "outbound_allow_local_http": True,
                                       **more})
