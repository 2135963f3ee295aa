"""Policy changes: each one a numbered version with its author and time, written with the active
document and an audit row; a rollback is a new version; a wrong document changes nothing and
names every wrong field in every section."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from models import Account, AuditEntry, PolicyVersion
from recovery.engine.policy_document import document_problems, validated_document
from recovery.engine.policy_versions import replace_policy, rollback_policy
from recovery.errors import NotFound, PolicyError
from recovery.rules.problems import dotted
from recovery.runtime.db import transaction

ACCOUNT = "acct_default"


def stored(services) -> tuple[dict | None, list[PolicyVersion], list[AuditEntry]]:
    with services.sessions() as session:
        return (session.get(Account, ACCOUNT).policy,
                list(session.exec(select(PolicyVersion).order_by(PolicyVersion.number))),
                list(session.exec(select(AuditEntry).order_by(AuditEntry.id))))


def test_each_change_is_a_new_version_with_its_author_time_and_audit_row(services):
    first = replace_policy(services.sessions, services.clock, account_id=ACCOUNT,
                           document={"offsets_days": [2, 5], "max_retries": 2},
                           author="token:1", note="shorter")
    services.clock.advance(timedelta(hours=1))
    second = replace_policy(services.sessions, services.clock, account_id=ACCOUNT,
                            document={"timing": "smart"}, author="cli:ops")
    policy, versions, audit = stored(services)
    assert [(v.number, v.author, v.note) for v in versions] == [
        (1, "token:1", "shorter"), (2, "cli:ops", None)]
    assert versions[1].created_at - versions[0].created_at == timedelta(hours=1)
    assert (first.number, second.number) == (1, 2)
    # The active document is the last version's, in normal form (every retry field filled in).
    assert policy == versions[1].document and policy["timing"] == "smart"
    assert policy["offsets_days"] == [1.0, 4.0, 8.0, 14.0, 21.0]
    assert [(e.action, e.actor, e.target) for e in audit] == [
        ("policy.replace", "token:1", "policy:1"), ("policy.replace", "cli:ops", "policy:2")]
    assert audit[1].before == {"version": 1, "document": versions[0].document}
    assert audit[1].after == {"version": 2, "document": versions[1].document}


def test_a_rollback_is_a_new_version_equal_to_the_old_one(services):
    for document in ({"max_retries": 2, "offsets_days": [1, 2]}, {"max_retries": 4}):
        replace_policy(services.sessions, services.clock, account_id=ACCOUNT, document=document,
                       author="token:1")
    back = rollback_policy(services.sessions, services.clock, account_id=ACCOUNT, number=1,
                           author="token:2")
    policy, versions, audit = stored(services)
    assert (back.number, back.note, back.author) == (3, "rollback to 1", "token:2")
    assert versions[2].document == versions[0].document == policy
    assert (audit[-1].action, audit[-1].before["version"], audit[-1].after["version"]) == (
        "policy.rollback", 2, 3)
    with pytest.raises(NotFound):
        rollback_policy(services.sessions, services.clock, account_id=ACCOUNT, number=9,
                        author="token:2")


def test_a_policy_set_before_versions_is_kept_as_version_one(services):
    with transaction(services.sessions) as session:
        session.get(Account, ACCOUNT).policy = {"max_retries": 1, "offsets_days": [3]}
    replace_policy(services.sessions, services.clock, account_id=ACCOUNT, document={},
                   author="token:1")
    _policy, versions, _audit = stored(services)
    assert [(v.number, v.author) for v in versions] == [(1, "unversioned"), (2, "token:1")]
    assert versions[0].document == {"max_retries": 1, "offsets_days": [3]}


def test_a_wrong_document_changes_nothing_and_names_every_wrong_field(services):
    replace_policy(services.sessions, services.clock, account_id=ACCOUNT,
                   document={"max_retries": 3}, author="token:1")
    before = stored(services)
    wrong = {
        "max_retries": 99, "colour": "blue",
        "segments": [{"name": "big", "match": {"amount_min": "many"},
                      "policy": {"offsets_days": [0]}}],
        "communication": {"max_per_case": 0, "sequence": [{"kind": "gossip"}]},
        "offers": {"rules": [{"kind": "pause", "months": 12}]},
        "branding": {"primary_color": "red"},
    }
    with pytest.raises(PolicyError) as raised:
        replace_policy(services.sessions, services.clock, account_id=ACCOUNT, document=wrong,
                       author="token:1")
    assert [dotted(e["loc"]) for e in raised.value.field_errors] == [
        "colour", "max_retries", "segments[0].match.amount_min",
        "segments[0].policy.offsets_days[0]", "communication.max_per_case",
        "communication.sequence[0].kind", "offers.rules[0].months", "branding.primary_color"]
    assert stored(services) == before


@pytest.mark.parametrize("document", [[1, 2], "everything", None])
def test_a_document_that_is_no_object_is_one_problem(document):
    (problem,) = document_problems(document)
    assert problem.loc == () and "object" in problem.msg


def test_the_normal_form_keeps_each_section_as_its_policy_writes_it():
    normal = validated_document({
        "segments": [{"name": "eu", "match": {"country": ["fr"]}, "policy": {"max_retries": 2}}],
        "offers": {"rules": [{"kind": "pause", "months": 2}]}, "branding": {"name": "Acme"}})
    assert normal["segments"] == [{"name": "eu", "match": {"country": ["FR"]},
                                   "policy": {"max_retries": 2}}]
    assert normal["offers"] == {"rules": [{"kind": "pause", "months": 2}]}
    assert normal["branding"]["name"] == "Acme" and normal["branding"]["sender"]
    assert "communication" not in normal and normal["max_retries"] == 5
    assert validated_document(normal) == normal
