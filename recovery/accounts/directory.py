"""Accounts: the default account from settings, webhook secrets per account, event routing, and
how each account's Stripe data is reached.

``resolve_account`` is the one place an event is mapped to an account, so Connect routing (by the
event's ``account`` field and mode) changes nothing else. The webhook receiver asks both of its
questions (whose event, which secrets) before the signature is checked, so they are answered from
memory: a snapshot of the accounts table, refreshed in the background when it is older than
``max_age_seconds``. An unsigned request therefore never reaches the database, and an account
added elsewhere is served within that time (Stripe retries the events refused meanwhile).
``stripe_account_of`` answers from the same snapshot (keys decrypted once per load), so a Stripe
call costs no database read. Removed accounts get no secrets (their events are refused) and no
access (``AccountAccessRevoked``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import update
from sqlmodel import select

from models import Account, AccountConnection
from recovery.accounts.secret_box import SecretBox, SecretUnreadable
from recovery.errors import AccountAccessRevoked
from recovery.runtime.clock import Clock
from recovery.runtime.db import SessionFactory, transaction
from recovery.runtime.settings import Settings
from recovery.stripe_api.access import AccountAccess, StripeAccess, key_livemode

log = logging.getLogger("recovery.accounts")


def ensure_default_account(sessions: SessionFactory, settings: Settings, clock: Clock) -> None:
    """Create the settings' single account if it is not in the database yet."""
    with sessions() as session:
        if session.get(Account, settings.account_id) is None:
            key = settings.stripe_api_key.get_secret_value() if settings.stripe_api_key else ""
            session.add(Account(id=settings.account_id, name="default",
                                livemode=key_livemode(key) is True, created_at=clock.now()))
            session.commit()


@dataclass(frozen=True)
class Unreachable:
    """An account whose Stripe data must not be reached: removed, or its key unreadable."""

    reason: str


@dataclass(frozen=True)
class _Routing:
    """What the receiver and the gateway need from the accounts table, decrypted."""

    # (acct_…, livemode) → our account id, for Connect events
    by_stripe_account: dict[tuple[str, bool], str] = field(default_factory=dict)
    secrets: dict[str, tuple[str, ...]] = field(default_factory=dict)  # our id → signing secrets
    access: dict[str, StripeAccess | Unreachable] = field(default_factory=dict)
    keyed: set[str] = field(default_factory=set)  # accounts with an endpoint of their own


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

    @property
    def box(self) -> SecretBox:
        """Seals what is stored about accounts (keys, signing secrets)."""
        return self._box

    def resolve_account(self, payload: dict, endpoint_account: str | None = None) -> str | None:
        """Our account for an event: a Connect event's by its ``account`` and mode, one sent to
        an account's own endpoint (``endpoint_account``) by that, else the settings' account."""
        connected = payload.get("account")
        if connected:
            if not isinstance(connected, str):
                return None
            livemode = payload.get("livemode") is True
            return self._current().by_stripe_account.get((connected, livemode))
        if endpoint_account is None or endpoint_account == self._settings.account_id:
            return self._settings.account_id
        return endpoint_account if endpoint_account in self._current().keyed else None

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

    def stripe_account_of(self, account_id: str) -> StripeAccess:
        """How to reach the account's Stripe data: None for the settings' own account, the
        ``acct_`` id of a Connect account, an ``AccountAccess`` holding an account's own key.
        Raises ``AccountAccessRevoked`` for a removed account or a key that cannot be read, so
        nothing falls back to the settings' key."""
        if account_id == self._settings.account_id:
            return None
        routing = self._current()
        if account_id not in routing.access:
            self.refresh()  # added since the snapshot was loaded
            routing = self._routing
        found = routing.access.get(account_id)
        if isinstance(found, Unreachable):
            raise AccountAccessRevoked(found.reason)
        return found

    # The snapshot

    def refresh(self) -> None:
        """Reload the snapshot now; values in plain text or under an old key are sealed again."""
        with self._sessions() as session:
            rows = session.exec(select(Account)).all()
        routing = _Routing()
        platform = next((row for row in rows if row.id == self._settings.account_id), None)
        connect_secrets = () if platform is None else self._open(
            platform.id, "connect_webhook_secrets", platform.connect_webhook_secrets)
        for row in rows:
            if row.removed_at is not None:
                routing.access[row.id] = Unreachable(f"account {row.id} was removed")
                continue
            secrets = self._open(row.id, "webhook_secrets", row.webhook_secrets)
            if row.connection == AccountConnection.key:
                routing.access[row.id] = self._key_access(row)
                routing.keyed.add(row.id)
            else:
                routing.access[row.id] = row.stripe_account_id
                if row.stripe_account_id and row.id != self._settings.account_id:
                    # A Connect account's events come through the platform's Connect endpoint.
                    routing.by_stripe_account[(row.stripe_account_id, row.livemode)] = row.id
                    secrets += connect_secrets
            routing.secrets[row.id] = secrets
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

    def _key_access(self, row: Account) -> AccountAccess | Unreachable:
        opened = self._open(row.id, "api_key_sealed", row.api_key_sealed or "")
        if not opened:
            return Unreachable(f"the API key of account {row.id} is missing or cannot be "
                               "decrypted with the configured secrets key")
        return AccountAccess(api_key=opened[0])

    def _open(self, account_id: str, column: str, stored: str) -> tuple[str, ...]:
        try:
            opened = self._box.open(stored)
        except SecretUnreadable as problem:
            # One unreadable row must not stop the others: its events are refused (and retried
            # by Stripe), its actions paused, until the right key is configured.
            log.error("account secrets unreadable", extra={"account": account_id,
                                                           "column": column,
                                                           "error": str(problem)})
            return ()
        if opened.needs_resealing:
            self._reseal(account_id, column, stored, opened.secrets)
        return opened.secrets

    def _reseal(self, account_id: str, column: str, stored: str,
                secrets: tuple[str, ...]) -> None:
        # Compare-and-set: another process may have re-sealed (or replaced) it meanwhile.
        sealed_column = getattr(Account, column)
        with transaction(self._sessions) as session:
            session.execute(update(Account)
                            .where(Account.id == account_id, sealed_column == stored)
                            .values({column: self._box.seal(secrets)}))
        log.info("account secrets sealed with the current key",
                 extra={"account": account_id, "column": column})
