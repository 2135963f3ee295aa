"""Accounts: the default account from settings, webhook secrets per account, event routing.

``resolve_account`` is the one place an event is mapped to an account, so Connect routing (by the
event's ``account`` field) changes nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import select

from models import Account
from recovery.runtime.clock import Clock
from recovery.runtime.db import SessionFactory
from recovery.runtime.settings import Settings


def ensure_default_account(sessions: SessionFactory, settings: Settings, clock: Clock) -> None:
    """Create the settings' single account if it is not in the database yet."""
    with sessions() as session:
        if session.get(Account, settings.account_id) is None:
            session.add(Account(id=settings.account_id, name="default", created_at=clock.now()))
            session.commit()


class AccountDirectory:
    """Answers the webhook edge's two questions: whose event is this, and which secrets sign it."""

    def __init__(self, sessions: SessionFactory, settings: Settings) -> None:
        self._sessions = sessions
        self._settings = settings

    def resolve_account(self, payload: dict) -> str | None:
        connected = payload.get("account")
        if not connected:
            return self._settings.account_id
        if not isinstance(connected, str):
            return None
        with self._sessions() as session:
            account = session.exec(
                select(Account).where(Account.stripe_account_id == connected)
            ).first()
            return account.id if account else None

    def secrets_for(self, account_id: str) -> Sequence[str]:
        if account_id == self._settings.account_id and self._settings.webhook_secrets:
            return self._settings.webhook_secrets
        with self._sessions() as session:
            account = session.get(Account, account_id)
            if account is None:
                return ()
            return tuple(s.strip() for s in account.webhook_secrets.split(",") if s.strip())

    def stripe_account_of(self, account_id: str) -> str | None:
        """The ``Stripe-Account`` to act as: None for the settings' own account."""
        if account_id == self._settings.account_id:
            return None
        with self._sessions() as session:
            account = session.get(Account, account_id)
            return account.stripe_account_id if account else None
