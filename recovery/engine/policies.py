"""An account's policies as stored (retry and its segments, communication): validated when saved,
the defaults if one is still broken."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlmodel import Session

from models import Account, RecoveryCase
from recovery.engine.case_facts import case_facts
from recovery.engine.experiments import arm_versions, case_arm_versions, running_experiment
from recovery.errors import PolicyError
from recovery.rules.communication import CommunicationPolicy
from recovery.rules.policy import RetryPolicy
from recovery.rules.segments import SegmentedPolicy

log = logging.getLogger("recovery.planning")


def policy_of(account: Account | None) -> RetryPolicy:
    try:
        return RetryPolicy.from_dict(account.policy if account else None)
    except PolicyError as problem:
        # A stored policy is validated when it is saved; if one is still broken, keep recovering
        # with the defaults rather than stopping every case of the account.
        log.error("stored policy is invalid; using defaults", extra={"error": str(problem)})
        return RetryPolicy()


def segmented_policy_of(account: Account | None) -> SegmentedPolicy:
    """The account's retry policy with its segments; without the segments if they are broken
    (every case then gets the account's own policy, as before they were set)."""
    return _segmented(account.policy if account else None)


def _segmented(document: Mapping | None) -> SegmentedPolicy:
    try:
        return SegmentedPolicy.from_document(document)
    except PolicyError as problem:
        log.error("stored segments are invalid; planning without them",
                  extra={"error": str(problem)})
        try:
            return SegmentedPolicy(RetryPolicy.from_dict(document))
        except PolicyError:
            return SegmentedPolicy(RetryPolicy())


def uses_smart_timing(session: Session, account: Account) -> bool:
    """Whether any case of the account may be timed smartly: by its policy or a segment, or by
    a policy version an experiment running in it tries."""
    if segmented_policy_of(account).uses_smart_timing:
        return True
    experiment = running_experiment(session, account.id)
    return experiment is not None and any(
        _segmented(version.document).uses_smart_timing
        for version in arm_versions(session, experiment).values() if version is not None)


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


def case_policies(session: Session, cases: Sequence[RecoveryCase], now: datetime
                  ) -> dict[int, tuple[RetryPolicy, str | None]]:
    """Each case's retry policy, by case id: the first of its policy's segments that matches
    the case, else that policy's own; with that segment's name (None: no segment). The policy
    is the account's, or, for a case in a running experiment, its customer's arm's version
    (the customer is assigned an arm at ``now`` if not yet)."""
    accounts = {account_id: segmented_policy_of(session.get(Account, account_id))
                for account_id in {case.account_id for case in cases}}
    arm_versions = case_arm_versions(session, cases, now)
    versions = {version.id: _segmented(version.document) for version in arm_versions.values()}
    policies = {case.id: versions[arm_versions[case.id].id] if case.id in arm_versions
                else accounts[case.account_id] for case in cases}
    segmented = [case for case in cases if policies[case.id].segments]
    facts = case_facts(session, segmented)
    chosen = {}
    for case in cases:
        account = policies[case.id]
        policy, segment = account.for_case(facts[case.id]) if case.id in facts \
            else (account.base, None)
        chosen[case.id] = (policy, segment.name if segment else None)
    return chosen
