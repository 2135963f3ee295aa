"""Connecting Stripe accounts: by the account's own API key, or as a Connect account.

By key (``connect_with_key``): one call (GET /v1/account) proves the key works and names its
Stripe account; the key is stored sealed (``SecretBox``) and a webhook endpoint is registered on
that account, at ``RECEIVER_PATH?account=<our id>`` (such events carry no ``account`` field, so
the URL says whose they are), for exactly the event types the engine handles, rendered in the
gateway's pinned API version; its signing secret is stored sealed with the row. A restricted key
needs write access to invoices, customers, subscriptions, coupons, billing portal sessions and
webhook endpoints, and read access to the account, charges, payment intents, payment methods and
events.

As a Connect account (``connect_connect_account``): the platform's key (RECOVERY_STRIPE_API_KEY)
acts as the ``acct_`` id (the ``Stripe-Account`` header). A platform has one Connect endpoint
(``connect=true``) for all its connected accounts' events: it is registered with the first
Connect account, its id kept on the settings' account row and its secret in that row's
``connect_webhook_secrets``; events are routed by their ``account`` field
(``AccountDirectory.resolve_account``).

Test and live data never share an account: the key's prefix (the platform key's, for Connect)
decides the mode, an account keeps the mode it was registered in, and a Stripe account is
connected at most once per mode. The key never leaves this module except sealed, or masked to
its kind and mode (``sk_live_***``) in the audit trail. Removing is ``removal.py``.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from models import Account, AccountConnection
from recovery.accounts.audit import record_change
from recovery.accounts.directory import AccountDirectory, ensure_default_account
from recovery.accounts.listing import AccountInfo, read_account_info
from recovery.accounts.secret_box import SecretsKeyMissing
from recovery.errors import (
    AccountAccessRevoked,
    AccountConflict,
    AccountRejected,
    GatewayError,
    GatewayUnavailable,
)
from recovery.runtime.clock import Clock
from recovery.runtime.db import SessionFactory, transaction
from recovery.runtime.settings import Settings
from recovery.stripe_api.access import (
    CONNECT_ACCOUNT_PATTERN,
    AccountAccess,
    StripeAccess,
    key_livemode,
    masked_key,
)
from recovery.stripe_api.gateway import StripeGateway
from recovery.stripe_api.results import RegisteredEndpoint, StripeAccountInfo
from webhooks.parse import HANDLED_EVENT_TYPES
from webhooks.router import RECEIVER_PATH

log = logging.getLogger("recovery.accounts")
# The endpoint subscribes to what the parser turns into facts, and nothing else.
ENDPOINT_EVENTS = tuple(sorted(HANDLED_EVENT_TYPES))
ACCOUNT_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


@dataclass(frozen=True)
class AccountDesk:
    """What connecting and removing accounts works with; ``gateway`` is None in the sandbox."""

    sessions: SessionFactory
    clock: Clock
    settings: Settings
    directory: AccountDirectory
    gateway: StripeGateway | None


def new_account_id() -> str:
    """An id for an account connected without one."""
    return f"acc_{secrets.token_hex(8)}"


def connect_with_key(desk: AccountDesk, *, account_id: str, key: str, name: str,
                     actor: str) -> AccountInfo:
    """Connect the Stripe account ``key`` belongs to as ``account_id`` (a new id, or one with no
    Stripe connection yet, or a removed account of the same Stripe account and mode)."""
    key, name = key.strip(), _checked_name(name)
    livemode = key_livemode(key)
    if livemode is None:
        raise AccountRejected("not a Stripe secret (sk_live_/sk_test_) or restricted "
                              "(rk_live_/rk_test_) key")
    gateway = _stripe_of(desk)
    with desk.sessions() as session:
        _connectable_row(session, desk.settings, account_id, livemode)
    access = AccountAccess(api_key=key)
    found = _validated(gateway, access, "this key cannot be used")
    with desk.sessions() as session:
        _connectable_row(session, desk.settings, account_id, livemode, found.id)
    endpoint = _register(gateway, _endpoint_url(desk.settings, account_id), access,
                         metadata={"recovery_account": account_id})
    try:
        with transaction(desk.sessions) as session:
            row, before = _claim_row(session, desk, account_id, livemode, found.id)
            row.connection = AccountConnection.key.value
            row.name = name or row.name or found.display_name or ""
            row.api_key_sealed = desk.directory.box.seal([key])
            row.stripe_webhook_endpoint_id = endpoint.id
            row.webhook_secrets = desk.directory.box.seal([endpoint.secret])
            record_change(session, desk.clock, account_id=account_id, actor=actor,
                          action="account.connect", target=f"account:{account_id}",
                          before=before, after=audit_view(row) | {"key": masked_key(key)})
    except Exception:
        _forget_endpoint(gateway, endpoint.id, access)
        raise
    desk.directory.refresh()
    log.info("account connected by key", extra={"account": account_id, "livemode": livemode,
                                                "webhook_endpoint": endpoint.id})
    return read_account_info(desk.sessions, account_id)


def connect_connect_account(desk: AccountDesk, *, account_id: str, stripe_account_id: str,
                            name: str, actor: str) -> AccountInfo:
    """Connect ``stripe_account_id`` (``acct_…``, connected to the platform) as ``account_id``,
    in the platform key's mode; the platform's Connect endpoint is registered if it is not."""
    acct, name = stripe_account_id.strip(), _checked_name(name)
    if not CONNECT_ACCOUNT_PATTERN.fullmatch(acct):
        raise AccountRejected(f"{acct[:64]!r} is not a Stripe account id (acct_...)")
    gateway = _stripe_of(desk)
    livemode = platform_livemode(desk.settings)
    with desk.sessions() as session:
        _connectable_row(session, desk.settings, account_id, livemode, acct)
    found = _validated(gateway, acct, f"{acct} cannot be used with the platform's key")
    _ensure_connect_endpoint(desk, gateway, actor)
    with transaction(desk.sessions) as session:
        row, before = _claim_row(session, desk, account_id, livemode, acct)
        row.connection = AccountConnection.connect.value
        row.name = name or row.name or found.display_name or ""
        record_change(session, desk.clock, account_id=account_id, actor=actor,
                      action="account.connect", target=f"account:{account_id}",
                      before=before, after=audit_view(row))
    desk.directory.refresh()
    log.info("connect account connected", extra={"account": account_id, "livemode": livemode})
    return read_account_info(desk.sessions, account_id)


def platform_livemode(settings: Settings) -> bool:
    key = settings.stripe_api_key.get_secret_value() if settings.stripe_api_key else ""
    return key_livemode(key) is True


def audit_view(row: Account) -> dict:
    """An account as the audit trail records it: nothing secret."""
    return {"name": row.name, "livemode": row.livemode, "connection": row.connection,
            "stripe_account_id": row.stripe_account_id,
            "webhook_endpoint_id": row.stripe_webhook_endpoint_id,
            "key_stored": bool(row.api_key_sealed), "removed": row.removed_at is not None}


# Checks


def _checked_name(name: str) -> str:
    name = name.strip()
    if len(name) > 200:
        raise AccountRejected("an account name is at most 200 characters")
    return name


def _stripe_of(desk: AccountDesk) -> StripeGateway:
    if desk.settings.sandbox or desk.gateway is None:
        raise AccountRejected("the sandbox runs without Stripe accounts: set "
                              "RECOVERY_STRIPE_API_KEY to connect real ones")
    if not desk.directory.box.has_key:
        raise SecretsKeyMissing("no secrets key: set RECOVERY_SECRETS_KEY (a Fernet key) "
                                "before connecting accounts, whose secrets are stored sealed")
    return desk.gateway


def _connectable_row(session: Session, settings: Settings, account_id: str, livemode: bool,
                     stripe_account_id: str | None = None) -> Account | None:
    """The row ``account_id`` names, if any, once it is clear it may be connected as asked."""
    if not ACCOUNT_ID_PATTERN.fullmatch(account_id):
        raise AccountRejected("an account id is 1 to 64 letters, digits, '_' or '-'")
    if account_id == settings.account_id:
        raise AccountConflict(f"{account_id} is the settings' account: it uses "
                              "RECOVERY_STRIPE_API_KEY")
    row = session.get(Account, account_id)
    if row is not None:
        _check_existing(row, livemode, stripe_account_id)
    if stripe_account_id is not None:
        _check_stripe_account_free(session, account_id, stripe_account_id, livemode)
    return row


def _check_existing(row: Account, livemode: bool, stripe_account_id: str | None) -> None:
    if row.livemode != livemode:
        raise AccountConflict(
            f"account {row.id} is registered in {_mode(row.livemode)} mode: a "
            f"{_mode(livemode)} key cannot be added to it (test and live data stay apart)")
    connected = row.connection != AccountConnection.settings or row.stripe_account_id
    if row.removed_at is None and connected:
        raise AccountConflict(f"account {row.id} is connected already; remove it first")
    if stripe_account_id and row.stripe_account_id not in (None, stripe_account_id):
        raise AccountConflict(f"account {row.id} was connected to another Stripe account; "
                              "choose another id")


def _check_stripe_account_free(session: Session, account_id: str, stripe_account_id: str,
                               livemode: bool) -> None:
    holder = session.exec(select(Account).where(
        Account.stripe_account_id == stripe_account_id, Account.livemode == livemode,
        Account.id != account_id)).first()
    if holder is None:
        return
    if holder.removed_at is not None:
        raise AccountConflict(f"{stripe_account_id} was connected in {_mode(livemode)} mode as "
                              f"{holder.id} (removed): connect it again with that id")
    raise AccountConflict(f"{stripe_account_id} is connected in {_mode(livemode)} mode "
                          f"already, as {holder.id}")


def _mode(livemode: bool) -> str:
    return "live" if livemode else "test"


def _claim_row(session: Session, desk: AccountDesk, account_id: str, livemode: bool,
               stripe_account_id: str) -> tuple[Account, dict | None]:
    """The row to connect, checked again inside the writing transaction, and its audit view
    before; a new row when there is none."""
    row = _connectable_row(session, desk.settings, account_id, livemode, stripe_account_id)
    before = audit_view(row) if row is not None else None
    if row is None:
        row = Account(id=account_id, created_at=desk.clock.now())
        session.add(row)
    row.livemode, row.stripe_account_id, row.removed_at = livemode, stripe_account_id, None
    try:
        session.flush()
    except IntegrityError:  # connected by another request meanwhile
        raise AccountConflict(f"{stripe_account_id} or {account_id} was connected "
                              "meanwhile") from None
    return row, before


# Stripe calls


def _validated(gateway: StripeGateway, access: StripeAccess, refused: str) -> StripeAccountInfo:
    """The one call that proves the access works: GET /v1/account."""
    try:
        return gateway.current_account(stripe_account=access)
    except AccountAccessRevoked as problem:
        raise AccountRejected(f"{refused}: {problem}") from None
    except GatewayUnavailable:
        raise
    except GatewayError as problem:
        raise AccountRejected(f"{refused}: {problem}") from None


def _register(gateway: StripeGateway, url: str, access: StripeAccess, *,
              metadata: dict[str, str], connect: bool = False) -> RegisteredEndpoint:
    try:
        return gateway.create_webhook_endpoint(
            url, ENDPOINT_EVENTS, connect=connect, metadata=metadata,
            description="payment recovery engine", stripe_account=access)
    except GatewayUnavailable:
        raise
    except GatewayError as problem:
        raise AccountRejected(f"Stripe refused to register the webhook endpoint {url}: "
                              f"{problem}") from None


def _endpoint_url(settings: Settings, account_id: str) -> str:
    return f"{settings.public_base_url}{RECEIVER_PATH}?{urlencode({'account': account_id})}"


def _forget_endpoint(gateway: StripeGateway, endpoint_id: str, access: StripeAccess) -> None:
    """Delete an endpoint registered for a connection that was not stored after all."""
    try:
        gateway.delete_webhook_endpoint(endpoint_id, stripe_account=access)
    except GatewayError as problem:
        log.error("a webhook endpoint registered for a failed connection could not be deleted",
                  extra={"webhook_endpoint": endpoint_id, "error": str(problem)[:200]})


def _ensure_connect_endpoint(desk: AccountDesk, gateway: StripeGateway, actor: str) -> None:
    """Register the platform's Connect endpoint once (compare-and-set on the settings' row)."""
    platform_id = desk.settings.account_id
    ensure_default_account(desk.sessions, desk.settings, desk.clock)
    with desk.sessions() as session:
        if session.get(Account, platform_id).stripe_webhook_endpoint_id:
            return
    endpoint = _register(gateway, f"{desk.settings.public_base_url}{RECEIVER_PATH}", None,
                         metadata={"recovery_account": platform_id}, connect=True)
    with transaction(desk.sessions) as session:
        claimed = session.execute(
            update(Account)
            .where(Account.id == platform_id, Account.stripe_webhook_endpoint_id.is_(None))
            .values(stripe_webhook_endpoint_id=endpoint.id,
                    connect_webhook_secrets=desk.directory.box.seal([endpoint.secret]))
        ).rowcount
        if claimed:
            record_change(session, desk.clock, account_id=platform_id, actor=actor,
                          action="connect_endpoint.create",
                          target=f"webhook_endpoint:{endpoint.id}",
                          after={"webhook_endpoint_id": endpoint.id,
                                 "events": list(ENDPOINT_EVENTS)})
    if not claimed:  # another request registered one meanwhile: keep theirs
        _forget_endpoint(gateway, endpoint.id, None)
