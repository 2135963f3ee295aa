"""An account's outbound webhook endpoints: create (the signing secret shown once), list, remove.

Every function takes the account id and touches only that account's endpoints, so the API's
``/v1/webhook-endpoints`` router and the CLI are thin layers over them. Secrets are Standard
Webhooks secrets (``whsec_`` + base64 of 32 random bytes), sealed by the ``SecretBox`` at rest;
a removed endpoint is kept (its delivery log refers to it) but receives nothing more.
"""

from __future__ import annotations

import base64
import ipaddress
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlmodel import select

from models import Account, OutboundEndpoint, OutboundEventType
from recovery.accounts.audit import record_change
from recovery.accounts.secret_box import SecretBox
from recovery.errors import InvalidEndpoint, NotFound
from recovery.runtime.clock import Clock
from recovery.runtime.db import SessionFactory, transaction

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # Standard Webhooks asks for 24 to 64
MAX_URL_LENGTH = 2048
LOCAL_HOSTS = frozenset({"localhost"})


@dataclass(frozen=True)
class EndpointView:
    """An endpoint as its owner sees it: never its secret."""

    id: int
    account_id: str
    url: str
    event_types: tuple[str, ...]
    enabled: bool
    created_at: datetime


@dataclass(frozen=True)
class CreatedEndpoint:
    endpoint: EndpointView
    secret: str  # returned this once; only its sealed form is stored


def create_endpoint(sessions: SessionFactory, box: SecretBox, clock: Clock, account_id: str,
                    url: str, event_types: Iterable[str] | None = None, *,
                    allow_local_http: bool = False, actor: str = "") -> CreatedEndpoint:
    """Store a new endpoint subscribed to ``event_types`` (all of them when None) and return
    it with its new signing secret. ``InvalidEndpoint`` for a bad URL or event type,
    ``NotFound`` for an unknown account."""
    url = check_endpoint_url(url, allow_local_http=allow_local_http)
    types = check_event_types(event_types)
    secret = new_secret()
    with transaction(sessions) as session:
        if session.get(Account, account_id) is None:
            raise NotFound(f"no account {account_id}")
        endpoint = OutboundEndpoint(account_id=account_id, url=url, secret=box.seal([secret]),
                                    event_types=list(types), enabled=True,
                                    created_at=clock.now())
        session.add(endpoint)
        session.flush()
        view = _view(endpoint)
        record_change(session, clock, account_id=account_id, actor=actor,
                      action="webhook_endpoint.create", target=f"webhook_endpoint:{view.id}",
                      after={"url": url, "event_types": list(types)})
    return CreatedEndpoint(view, secret)


def list_endpoints(sessions: SessionFactory, account_id: str) -> list[EndpointView]:
    """The account's endpoints, oldest first (removed ones left out)."""
    with sessions() as session:
        rows = session.exec(
            select(OutboundEndpoint)
            .where(OutboundEndpoint.account_id == account_id,
                   OutboundEndpoint.deleted_at.is_(None))
            .order_by(OutboundEndpoint.id))
        return [_view(row) for row in rows]


def remove_endpoint(sessions: SessionFactory, clock: Clock, account_id: str,
                    endpoint_id: int, *, actor: str = "") -> None:
    """The endpoint receives nothing more (deliveries still queued for it are dropped when
    their turn comes). ``NotFound`` if the account has no such endpoint."""
    with transaction(sessions) as session:
        endpoint = session.get(OutboundEndpoint, endpoint_id)
        if endpoint is None or endpoint.account_id != account_id or endpoint.deleted_at:
            raise NotFound(f"no webhook endpoint {endpoint_id} for account {account_id}")
        endpoint.deleted_at, endpoint.enabled = clock.now(), False
        record_change(session, clock, account_id=account_id, actor=actor,
                      action="webhook_endpoint.remove", target=f"webhook_endpoint:{endpoint_id}",
                      before={"url": endpoint.url, "event_types": list(endpoint.event_types)})


def check_endpoint_url(url: str, *, allow_local_http: bool = False) -> str:
    """The URL if events may be sent to it: https, or http to this machine when allowed (local
    development). Plain http elsewhere would let anyone on the path read and replay events."""
    url = (url or "").strip()
    if not url or len(url) > MAX_URL_LENGTH:
        raise InvalidEndpoint(f"the endpoint URL must be 1 to {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        # A NUL or a line break would be refused by PostgreSQL, or split an HTTP request line.
        raise InvalidEndpoint("the endpoint URL must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as problem:
        raise InvalidEndpoint(f"the endpoint URL is malformed: {problem}") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidEndpoint("the endpoint URL must be an absolute https:// URL")
    if parts.username or parts.password:
        raise InvalidEndpoint("the endpoint URL must not carry credentials: events are signed")
    if parts.scheme == "http" and not (allow_local_http and _is_local(parts.hostname)):
        raise InvalidEndpoint("the endpoint URL must be https (plain http is allowed only to "
                              "this machine, in the sandbox or local development)")
    return url


def check_event_types(event_types: Iterable[str] | None) -> tuple[str, ...]:
    """The event types, validated and deduplicated in a stable order; every type for None."""
    known = [kind.value for kind in OutboundEventType]
    if event_types is None:
        return tuple(known)
    asked = {str(kind).strip() for kind in event_types}
    unknown = sorted(asked - set(known))
    if unknown:
        raise InvalidEndpoint(f"unknown event types {', '.join(unknown)}; known: "
                              f"{', '.join(known)}")
    if not asked:
        raise InvalidEndpoint("subscribe the endpoint to at least one event type")
    return tuple(kind for kind in known if kind in asked)


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def _is_local(host: str) -> bool:
    if host.lower() in LOCAL_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _view(row: OutboundEndpoint) -> EndpointView:
    return EndpointView(id=row.id, account_id=row.account_id, url=row.url,
                        event_types=tuple(row.event_types), enabled=row.enabled,
                        created_at=row.created_at)
