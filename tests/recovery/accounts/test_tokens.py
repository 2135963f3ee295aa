"""API tokens: shown once, stored only as a digest, scoped, revocable."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from recovery.accounts.directory import ensure_default_account
from recovery.accounts.tokens import authenticate, create_token, digest, revoke_token
from recovery.errors import NotFound, PolicyError


@pytest.fixture
def account_id(services):
    ensure_default_account(services.sessions, services.settings, services.clock)
    return services.settings.account_id


def test_the_token_is_stored_only_as_its_digest(services, account_id):
    info, token = create_token(services.sessions, services.clock, account_id=account_id,
                               name="ci", scopes=["read"], actor="test")
    with services.db_engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM api_token")).all()
        audit = connection.execute(text("SELECT * FROM audit_entry")).all()
    stored = " ".join(str(value) for row in rows + audit for value in row)
    assert token not in stored and token[12:] not in stored
    assert digest(token) in stored and info.prefix == token[:12]
    caller = authenticate(services.sessions, token)
    assert caller is not None and caller.account_id == account_id
    assert caller.scopes == frozenset({"read"})


def test_scopes_are_checked(services, account_id):
    for scopes in ([], ["admin"], ["read", "everything"]):
        with pytest.raises(PolicyError):
            create_token(services.sessions, services.clock, account_id=account_id, name="",
                         scopes=scopes, actor="test")
    info, _ = create_token(services.sessions, services.clock, account_id=account_id, name="",
                           scopes=["write", "read", "read"], actor="test")
    assert info.scopes == ("read", "write")


def test_revoked_and_unknown_tokens_do_not_authenticate(services, account_id):
    info, token = create_token(services.sessions, services.clock, account_id=account_id,
                               name="", scopes=["read"], actor="test")
    with pytest.raises(NotFound):
        revoke_token(services.sessions, services.clock, account_id="acct_nobody",
                     token_id=info.id, actor="test")
    assert authenticate(services.sessions, token) is not None
    revoke_token(services.sessions, services.clock, account_id=account_id, token_id=info.id,
                 actor="test")
    assert authenticate(services.sessions, token) is None
    assert authenticate(services.sessions, token[:-1] + "A") is None
    assert authenticate(services.sessions, "") is None


def test_a_token_for_an_unknown_account_is_refused(services):
    with pytest.raises(NotFound):
        create_token(services.sessions, services.clock, account_id="acct_nobody", name="",
                     scopes=["read"], actor="test")
