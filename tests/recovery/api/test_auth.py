"""Tokens at the API's door: none or a wrong one is 401, a missing scope 403, a revoked token
stops working at once, and another account's objects answer 404."""

from __future__ import annotations

from sqlmodel import select

from models import AuditEntry
from tests.recovery.api.conftest import OTHER_ACCOUNT, bearer


def test_no_token_or_a_wrong_one_is_401(api, tokens):
    assert api.get("/v1/account").status_code == 401
    assert api.get("/v1/account", headers=bearer("rcv_" + "x" * 43)).status_code == 401
    assert api.get("/v1/account", headers=bearer("not-a-token\x00")).status_code == 401
    answer = api.get("/v1/account", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == "Bearer"


def test_each_token_sees_its_own_account(api, tokens, services):
    assert api.get("/v1/account", headers=tokens.owner).json()["id"] == \
        services.settings.account_id
    assert api.get("/v1/account", headers=tokens.other).json()["id"] == OTHER_ACCOUNT
    own = api.get("/v1/tokens", headers=tokens.owner).json()
    other = api.get("/v1/tokens", headers=tokens.other).json()
    assert len(own) == 2 and len(other) == 1
    assert not {t["id"] for t in own} & {t["id"] for t in other}
    assert all("token_hash" not in t and "rcv_" not in t["prefix"][4:] for t in own)


def test_write_needs_the_write_scope(api, tokens):
    own = api.get("/v1/tokens", headers=tokens.owner).json()
    reader_id = next(t["id"] for t in own if t["scopes"] == ["read"])
    assert api.delete(f"/v1/tokens/{reader_id}", headers=tokens.reader).status_code == 403
    assert api.get("/v1/account", headers=tokens.reader).status_code == 200


def test_another_accounts_token_answers_404_and_changes_nothing(api, tokens):
    other_id = api.get("/v1/tokens", headers=tokens.other).json()[0]["id"]
    assert api.delete(f"/v1/tokens/{other_id}", headers=tokens.owner).status_code == 404
    assert api.get("/v1/account", headers=tokens.other).status_code == 200


def test_a_revoked_token_stops_at_once_and_leaves_an_audit_row(api, tokens, services):
    reader_id = next(t["id"] for t in api.get("/v1/tokens", headers=tokens.owner).json()
                     if t["scopes"] == ["read"])
    assert api.delete(f"/v1/tokens/{reader_id}", headers=tokens.owner).status_code == 204
    assert api.get("/v1/account", headers=tokens.reader).status_code == 401
    with services.sessions() as session:
        entry = session.exec(select(AuditEntry).where(
            AuditEntry.action == "token.revoke")).one()
    assert entry.target == f"token:{reader_id}" and entry.actor.startswith("token:")
    assert entry.before == {"revoked": False} and entry.after == {"revoked": True}
    audit = api.get("/v1/audit", headers=tokens.owner).json()
    assert [e["action"] for e in audit][0] == "token.revoke"
    assert all(e["action"] != "token.revoke" for e in api.get(
        "/v1/audit", headers=tokens.other).json())
