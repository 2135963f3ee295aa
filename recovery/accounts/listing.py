"""Accounts as lists and answers show them: never a key or a signing secret."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import select

from models import Account
from recovery.errors import NotFound
from recovery.runtime.db import SessionFactory


@dataclass(frozen=True)
class AccountInfo:
    id: str
    name: str
    livemode: bool
    connection: str  # key | connect | settings
    stripe_account_id: str | None
    webhook_endpoint_id: str | None
    created_at: datetime
    removed_at: datetime | None
    paused_reason: str | None

    @property
    def mode(self) -> str:
        return "live" if self.livemode else "test"


def info_of(row: Account) -> AccountInfo:
    return AccountInfo(id=row.id, name=row.name, livemode=row.livemode,
                       connection=row.connection, stripe_account_id=row.stripe_account_id,
                       webhook_endpoint_id=row.stripe_webhook_endpoint_id,
                       created_at=row.created_at, removed_at=row.removed_at,
                       paused_reason=row.paused_reason)


def read_account_info(sessions: SessionFactory, account_id: str) -> AccountInfo:
    with sessions() as session:
        row = session.get(Account, account_id)
        if row is None:
            raise NotFound(f"no account {account_id}")
        return info_of(row)


def list_accounts(sessions: SessionFactory, *, include_removed: bool = False) -> list[AccountInfo]:
    query = select(Account).order_by(Account.created_at, Account.id)
    if not include_removed:
        query = query.where(Account.removed_at.is_(None))
    with sessions() as session:
        return [info_of(row) for row in session.exec(query)]
