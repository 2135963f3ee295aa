"""Changing an account's policy: every change is a new numbered version with its author and time,
written in one transaction with the active document (``account.policy``) and an audit row.

A rollback is a new version equal to an old one, so the history only grows. The first change to
an account whose policy was set before versions were kept first records that policy as version 1
(author ``unversioned``), so it can be rolled back to; an account still on the defaults starts at
version 1 with its first change (``{}`` is the defaults, should one want them back).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from models import Account, PolicyVersion
from recovery.accounts.audit import record_change
from recovery.engine.policy_document import validated_document
from recovery.errors import NotFound
from recovery.runtime.clock import Clock
from recovery.runtime.db import SessionFactory, transaction

UNVERSIONED_AUTHOR = "unversioned"


@dataclass(frozen=True)
class PolicyVersionInfo:
    number: int
    document: dict
    author: str
    created_at: datetime
    note: str | None


def version_info(row: PolicyVersion) -> PolicyVersionInfo:
    return PolicyVersionInfo(row.number, dict(row.document), row.author, row.created_at, row.note)


def replace_policy(sessions: SessionFactory, clock: Clock, *, account_id: str, document: Any,
                   author: str, note: str | None = None) -> PolicyVersionInfo:
    """Validate ``document`` (``PolicyError`` with every field error, and nothing written),
    then make it the account's policy as a new version."""
    normal = validated_document(document)
    with transaction(sessions) as session:
        return _new_version(session, clock, account_id=account_id, document=normal,
                            author=author, note=note, action="policy.replace")


def rollback_policy(sessions: SessionFactory, clock: Clock, *, account_id: str, number: int,
                    author: str) -> PolicyVersionInfo:
    """Make version ``number`` the account's policy again, as a new version (checked again:
    ``PolicyError`` if the rules have since changed under it)."""
    with transaction(sessions) as session:
        return adopt_version(session, clock, account_id=account_id,
                             row=version_row(session, account_id, number), author=author,
                             note=f"rollback to {number}", action="policy.rollback")


def adopt_version(session: Session, clock: Clock, *, account_id: str, row: PolicyVersion,
                  author: str, note: str, action: str) -> PolicyVersionInfo:
    """Within the caller's transaction, make an old version's document the account's policy
    again as a new version (checked again: ``PolicyError`` if the rules changed under it)."""
    return _new_version(session, clock, account_id=account_id,
                        document=validated_document(row.document), author=author, note=note,
                        action=action)


def version_row(session: Session, account_id: str, number: int) -> PolicyVersion:
    row = session.exec(select(PolicyVersion).where(PolicyVersion.account_id == account_id,
                                                   PolicyVersion.number == number)).first()
    if row is None:
        raise NotFound(f"no policy version {number}")
    return row


def latest_version(session: Session, account_id: str) -> PolicyVersion | None:
    return session.exec(select(PolicyVersion).where(PolicyVersion.account_id == account_id)
                        .order_by(PolicyVersion.number.desc()).limit(1)).first()


def _new_version(session: Session, clock: Clock, *, account_id: str, document: dict,
                 author: str, note: str | None, action: str) -> PolicyVersionInfo:
    # The account row is locked, so two changes at once take their numbers one after the other
    # (PostgreSQL; SQLite has one writer at a time anyway).
    account = session.exec(select(Account).where(Account.id == account_id)
                           .with_for_update()).first()
    if account is None:
        raise NotFound(f"no account {account_id}")
    latest = latest_version(session, account_id)
    if latest is None and account.policy:
        latest = _add(session, account_id, 1, dict(account.policy), UNVERSIONED_AUTHOR,
                      clock.now(), "the policy in place before versions were kept")
    before = {"version": latest.number if latest else None, "document": account.policy}
    number = _next_number(session, account_id)
    row = _add(session, account_id, number, document, author, clock.now(), note)
    account.policy = document
    session.add(account)
    record_change(session, clock, account_id=account_id, actor=author, action=action,
                  target=f"policy:{number}", before=before,
                  after={"version": number, "document": document})
    return version_info(row)


def _next_number(session: Session, account_id: str) -> int:
    highest = session.scalar(select(func.max(PolicyVersion.number))
                             .where(PolicyVersion.account_id == account_id))
    return (highest or 0) + 1


def _add(session: Session, account_id: str, number: int, document: dict, author: str,
         at: datetime, note: str | None) -> PolicyVersion:
    row = PolicyVersion(account_id=account_id, number=number, document=document, author=author,
                        created_at=at, note=note)
    session.add(row)
    session.flush()
    return row
