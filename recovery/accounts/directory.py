"""Accounts: the default account from settings, webhook secrets per account, event routing.

``resolve_account`` is the one place an event is mapped to an account, so Connect routing (by the
event's ``account`` field) changes nothing else. The webhook receiver asks both of its questions
(whose event, which secrets) before the signature is checked, so they are answered from memory:
a snapshot of the accounts table, refreshed in the background when it is older than
``max_age_seconds``. An unsigned request therefore never reaches the database, and an account
added elsewhere is served within that time (Stripe retries the events refused meanwhile).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import update
from sqlmodel import select

from models import Account
from recovery.accounts.secret_box import SecretBox, SecretUnreadable
from recovery.runtime.clock import Clock
from recovery.runtime.db import SessionFactory, transaction
from recovery.runtime.settings import Settings

log = logging.getLogger("recovery.accounts")


def ensure_default_account(sessions: SessionFactory, settings: Settings, clock: Clock) -> None:
    """Create the settings' single account if it is not in the database yet."""
    with sessions() as session:
        if session.get(Account, settings.account_id) is None:
            session.add(Account(id=settings.account_id, name="default", created_at=clock.now()))
            session.commit()


@dataclass(frozen=True)
class _Routing:
    """What the receiver needs from the accounts table, decrypted."""

    by_stripe_account: dict[str, str] = field(default_factory=dict)  # acct_… → our account id
    secrets: dict[str, tuple[str, ...]] = field(default_factory=dict)  # our id → signing secrets


class AccountDirectory:
    """Answers the webhook edge's two questions: whose event is this, and which secrets sign it."""

    def __init__(self, sessions: SessionFactory, settings: Settings,
                 box: SecretBox | None = None, *,
                 max_age_seconds: float = 30.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._sessions = sessions
        self._settings = settings
        self._box = box if box is not None else SecretBox.from_settings(settings)
        self._max_age = max_age_seconds
        self._monotonic = monotonic
        self._routing: _Routing | None = None
        self._loaded_at = 0.0
        self._refreshing = threading.Lock()

    def resolve_account(self, payload: dict) -> str | None:
        connected = payload.get("account")
        if not connected:
            return self._settings.account_id
        if not isinstance(connected, str):
            return None
        return self._current().by_stripe_account.get(connected)

    def secrets_for(self, account_id: str) -> Sequence[str]:
        if account_id == self._settings.account_id and self._settings.webhook_secrets:
            return self._settings.webhook_secrets
        return self._current().secrets.get(account_id, ())

    def set_webhook_secrets(self, account_id: str, secrets: Sequence[str]) -> None:
        """Store an account's signing secrets (newest first), encrypted, and serve them now."""
        sealed = self._box.seal([secret.strip() for secret in secrets if secret.strip()])
        with transaction(self._sessions) as session:
            account = session.get(Account, account_id)
            if account is None:
                raise KeyError(account_id)
            account.webhook_secrets = sealed
        self.refresh()

    def stripe_account_of(self, account_id: str) -> str | None:
        """The ``Stripe-Account`` to act as: None for the settings' own account."""
        if account_id == self._settings.account_id:
            return None
        with self._sessions() as session:
            account = session.get(Account, account_id)
            return account.stripe_account_id if account else None

    # The snapshot

    def refresh(self) -> None:
        """Reload the snapshot now; values in plain text or under an old key are sealed again."""
        with self._sessions() as session:
            rows = session.exec(
                select(Account.id, Account.stripe_account_id, Account.webhook_secrets)).all()
        routing = _Routing()
        for account_id, stripe_account_id, stored in rows:
            if stripe_account_id:
                routing.by_stripe_account[stripe_account_id] = account_id
            routing.secrets[account_id] = self._open(account_id, stored)
        self._routing, self._loaded_at = routing, self._monotonic()

    def _current(self) -> _Routing:
        if self._routing is None:
            self.refresh()  # first use without the app's start-up load (scripts, the CLI)
        routing = self._routing
        if self._monotonic() - self._loaded_at > self._max_age:
            self._refresh_in_background()
        return routing

    def _refresh_in_background(self) -> None:
        # One refresh at a time, off the request: the answer comes from the current snapshot.
        if not self._refreshing.acquire(blocking=False):
            return

        def run() -> None:
            try:
                self.refresh()
            except Exception:  # noqa: BLE001 - keep serving the last good snapshot
                log.exception("reloading the accounts' webhook secrets failed")
            finally:
                self._refreshing.release()

        threading.Thread(target=run, name="account-directory-refresh", daemon=True).start()

    def _open(self, account_id: str, stored: str) -> tuple[str, ...]:
        try:
            opened = self._box.open(stored)
        except SecretUnreadable as problem:
            # One unreadable row must not stop the others: its events are refused (and retried
            # by Stripe) until the right key is configured.
            log.error("webhook secrets unreadable", extra={"account": account_id,
                                                           "error": str(problem)})
            return ()
        if opened.needs_resealing:
            self._reseal(account_id, stored, opened.secrets)
        return opened.secrets

    def _reseal(self, account_id: str, stored: str, secrets: tuple[str, ...]) -> None:
        # Compare-and-set: another process may have re-sealed (or replaced) it meanwhile.
        with transaction(self._sessions) as session:
            session.execute(update(Account)
                            .where(Account.id == account_id, Account.webhook_secrets == stored)
                            .values(webhook_secrets=self._box.seal(secrets)))
        log.info("webhook secrets sealed with the current key", extra={"account": account_id})
