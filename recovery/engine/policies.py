"""An account's policies as stored (retry, communication): validated when saved, the defaults if
one is still broken."""

from __future__ import annotations

import logging

from sqlmodel import Session

from models import Account
from recovery.errors import PolicyError
from recovery.rules.communication import CommunicationPolicy
from recovery.rules.policy import RetryPolicy

log = logging.getLogger("recovery.planning")


def policy_of(account: Account | None) -> RetryPolicy:
    try:
        return RetryPolicy.from_dict(account.policy if account else None)
    except PolicyError as problem:
        # A stored policy is validated when it is saved; if one is still broken, keep recovering
        # with the defaults rather than stopping every case of the account.
        log.error("stored policy is invalid; using defaults", extra={"error": str(problem)})
        return RetryPolicy()


def stored_policy(session: Session, account_id: str) -> RetryPolicy:
    return policy_of(session.get(Account, account_id))


def communication_of(account: Account | None) -> CommunicationPolicy:
    """The account's ``policy["communication"]``; the defaults when it has none (or a broken
    one: customers keep hearing about their failed payments rather than nothing at all)."""
    section = (account.policy or {}).get("communication") if account else None
    try:
        return CommunicationPolicy.from_mapping(section)
    except PolicyError as problem:
        log.error("stored communication policy is invalid; using defaults",
                  extra={"error": str(problem)})
        return CommunicationPolicy()


def stored_communication(session: Session, account_id: str) -> CommunicationPolicy:
    return communication_of(session.get(Account, account_id))
