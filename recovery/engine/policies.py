"""An account's retry policy as stored: validated when saved, the defaults if it is still broken."""

from __future__ import annotations

import logging

from sqlmodel import Session

from models import Account
from recovery.errors import PolicyError
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
