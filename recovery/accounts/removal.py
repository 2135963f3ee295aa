"""Removing a connected account: its webhook endpoint is deleted on Stripe, its row is kept.

Cases, attempts and messages refer to the account, so the row stays, marked ``removed_at``, with
its key and signing secrets erased. From then on the receiver refuses its events (the directory
routes nothing to it and has no secret for it), the action runner claims none of its actions
(``actions/runner.claim_due``), and ``AccountDirectory.stripe_account_of`` raises
``AccountAccessRevoked`` for it, so no Stripe call is made on its behalf. Connecting the same
Stripe account again in the same mode reuses the row (``connect.py``).

A key account's endpoint is deleted with its own key; when Stripe no longer accepts that key
(often why an account is removed) the removal still happens and the audit row says the endpoint
was left. The platform's Connect endpoint serves every Connect account: it is deleted with the
last one.
"""

from __future__ import annotations

import logging

from sqlalchemy import update
from sqlmodel import select

from models import Account, AccountConnection
from recovery.accounts.audit import record_change
from recovery.accounts.connect import AccountDesk, audit_view
from recovery.accounts.listing import AccountInfo, read_account_info
from recovery.accounts.secret_box import SecretUnreadable
from recovery.errors import AccountConflict, GatewayError, GatewayUnavailable, NotFound
from recovery.runtime.db import transaction
from recovery.stripe_api.access import AccountAccess, StripeAccess

log = logging.getLogger("recovery.accounts")


def remove_account(desk: AccountDesk, *, account_id: str, actor: str) -> AccountInfo:
    """Remove ``account_id``: delete its endpoint, erase its secrets, mark it removed."""
    if account_id == desk.settings.account_id:
        raise AccountConflict(f"{account_id} is the settings' account: it is configured by "
                              "RECOVERY_STRIPE_API_KEY, not removed")
    with desk.sessions() as session:
        row = session.get(Account, account_id)
        if row is None or row.removed_at is not None:
            raise NotFound(f"no connected account {account_id}")
        endpoint_id, sealed_key = row.stripe_webhook_endpoint_id, row.api_key_sealed
        by_platform = row.connection != AccountConnection.key and bool(row.stripe_account_id)
    endpoint = _delete_own_endpoint(desk, endpoint_id, sealed_key)
    with transaction(desk.sessions) as session:
        row = session.get(Account, account_id)
        if row.removed_at is not None:
            raise NotFound(f"no connected account {account_id}")
        before = audit_view(row)
        row.removed_at = desk.clock.now()
        row.api_key_sealed, row.webhook_secrets, row.stripe_webhook_endpoint_id = None, "", None
        record_change(session, desk.clock, account_id=account_id, actor=actor,
                      action="account.remove", target=f"account:{account_id}", before=before,
                      after=audit_view(row) | {"webhook_endpoint": endpoint})
    desk.directory.refresh()
    log.info("account removed", extra={"account": account_id, "webhook_endpoint": endpoint})
    if by_platform:
        _retire_connect_endpoint(desk, actor)
    return read_account_info(desk.sessions, account_id)


def _delete_own_endpoint(desk: AccountDesk, endpoint_id: str | None,
                         sealed_key: str | None) -> str:
    """Delete a key account's endpoint with its own key (never the settings' key: that one
    reaches another Stripe account); returns what became of it, as the audit row says it."""
    if endpoint_id is None:
        return "none"
    try:
        opened = desk.directory.box.open(sealed_key or "").secrets
    except SecretUnreadable:
        opened = ()
    if not opened:
        return "left: the account's key cannot be read"
    return _delete_endpoint(desk, endpoint_id, AccountAccess(api_key=opened[0]))


def _delete_endpoint(desk: AccountDesk, endpoint_id: str, access: StripeAccess) -> str:
    if desk.gateway is None:
        return "left: no Stripe gateway (the sandbox)"
    try:
        deleted = desk.gateway.delete_webhook_endpoint(endpoint_id, stripe_account=access)
    except GatewayUnavailable:
        raise  # nothing was changed: the removal can be asked again later
    except GatewayError as problem:
        log.warning("a webhook endpoint could not be deleted",
                    extra={"webhook_endpoint": endpoint_id, "error": str(problem)[:200]})
        return f"left: {str(problem)[:200]}"
    return "deleted" if deleted else "already gone"


def _retire_connect_endpoint(desk: AccountDesk, actor: str) -> None:
    """Delete the platform's Connect endpoint once no Connect account is left."""
    platform_id = desk.settings.account_id
    with desk.sessions() as session:
        remaining = session.exec(select(Account.id).where(
            Account.removed_at.is_(None), Account.stripe_account_id.is_not(None),
            Account.connection != AccountConnection.key.value, Account.id != platform_id)).first()
        platform = session.get(Account, platform_id)
        endpoint_id = platform.stripe_webhook_endpoint_id if platform else None
    if remaining is not None or endpoint_id is None:
        return
    outcome = _delete_endpoint(desk, endpoint_id, None)
    if outcome.startswith("left"):
        return
    with transaction(desk.sessions) as session:
        session.execute(update(Account)
                        .where(Account.id == platform_id,
                               Account.stripe_webhook_endpoint_id == endpoint_id)
                        .values(stripe_webhook_endpoint_id=None, connect_webhook_secrets=""))
        record_change(session, desk.clock, account_id=platform_id, actor=actor,
                      action="connect_endpoint.delete", target=f"webhook_endpoint:{endpoint_id}",
                      before={"webhook_endpoint_id": endpoint_id},
                      after={"webhook_endpoint_id": None, "outcome": outcome})
    desk.directory.refresh()
