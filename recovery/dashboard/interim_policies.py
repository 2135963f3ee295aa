"""Stand-in for the policy versions until they land (``recovery.reports.policies`` and
``recovery.engine.policy_versions``): the same names and arguments, on ``account.policy`` alone,
so the policies page swaps its imports and nothing else. There is no history yet, so no rollback
and no estimate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from recovery.accounts.audit import record_change
from recovery.engine.policies import communication_of, policy_of
from recovery.errors import NotFound, PolicyError
from recovery.rules.communication import CommunicationPolicy
from recovery.rules.policy import POLICY_SECTIONS, RetryPolicy
from recovery.runtime.clock import Clock
from recovery.runtime.db import SessionFactory, transaction


@dataclass(frozen=True)
class PolicyVersionInfo:
    number: int
    document: dict
    author: str
    created_at: datetime
    note: str | None


@dataclass(frozen=True)
class ActivePolicy:
    document: dict
    version: PolicyVersionInfo | None


@dataclass(frozen=True)
class PolicyPreview:
    estimate: float | None
    low: float | None = None
    high: float | None = None
    reason: str | None = None
    cases: int = 0
    matched: int = 0
    logged_rate: float | None = None


def active_policy(sessions: SessionFactory, *, account_id: str) -> ActivePolicy:
    from models import Account  # noqa: PLC0415 - the stand-in reads the row the engine reads

    with sessions() as session:
        account = session.get(Account, account_id)
        if account is None:
            raise NotFound(f"no account {account_id}")
        document = {**{k: v for k, v in (account.policy or {}).items() if k in POLICY_SECTIONS},
                    **policy_of(account).to_dict(),
                    "communication": communication_of(account).to_dict()}
    return ActivePolicy(document, None)


def policy_versions(sessions: SessionFactory, *, account_id: str) -> list[PolicyVersionInfo]:
    return []


def preview_policy(sessions: SessionFactory, *, account_id: str,
                   document: Any) -> PolicyPreview:
    _validated(document)
    return PolicyPreview(None, reason="estimates need the account's policy history, which is "
                         "not kept yet")


def replace_policy(sessions: SessionFactory, clock: Clock, *, account_id: str, document: Any,
                   author: str, note: str | None = None) -> PolicyVersionInfo:
    from models import Account  # noqa: PLC0415

    normal = _validated(document)
    with transaction(sessions) as session:
        account = session.get(Account, account_id)
        before = dict(account.policy or {})
        account.policy = {**{k: v for k, v in before.items() if k in POLICY_SECTIONS}, **normal}
        record_change(session, clock, account_id=account_id, actor=author,
                      action="policy.replace", target=f"account:{account_id}", before=before,
                      after=account.policy)
    return PolicyVersionInfo(0, normal, author, clock.now(), note)


def rollback_policy(sessions: SessionFactory, clock: Clock, *, account_id: str, number: int,
                    author: str) -> PolicyVersionInfo:
    raise NotFound(f"no policy version {number}: versions are not kept yet")


def _validated(document: Any) -> dict:
    if not isinstance(document, dict):
        raise PolicyError("invalid policy: expected a JSON object of policy fields")
    normal = RetryPolicy.from_dict(document).to_dict()
    if "communication" in document:
        normal["communication"] = CommunicationPolicy.from_mapping(
            document["communication"]).to_dict()
    return normal
