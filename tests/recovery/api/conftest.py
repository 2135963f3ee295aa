"""The API's shared fixtures: the app on a migrated database, and two accounts with tokens, so
every router's tests can check that one account never sees the other's data."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from pydantic import SecretStr

from models import Account
from recovery.accounts.tokens import create_token
from recovery.app import create_app
from recovery.runtime.db import transaction

OTHER_ACCOUNT = "acct_other"


@dataclass(frozen=True)
class Tokens:
    """Bearer headers: read+write and read-only for the settings' account, and read+write for
    a second account."""

    owner: dict[str, str]
    reader: dict[str, str]
    other: dict[str, str]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def settings(settings):
    """The API stores secrets (webhook endpoints', accounts' keys): it needs a secrets key."""
    return settings.model_copy(update={"secrets_key": SecretStr(Fernet.generate_key().decode())})


@pytest.fixture
def api(services):
    with TestClient(create_app(services, run_worker=False)) as client:
        yield client


@pytest.fixture
def tokens(services, api) -> Tokens:
    """Needs ``api``: the app's start-up creates the settings' account."""
    with transaction(services.sessions) as session:
        session.add(Account(id=OTHER_ACCOUNT, name="other", created_at=services.clock.now()))

    def make(account_id: str, scopes: list[str]) -> dict[str, str]:
        _info, token = create_token(services.sessions, services.clock, account_id=account_id,
                                    name="test", scopes=scopes, actor="test")
        return bearer(token)

    account_id = services.settings.account_id
    return Tokens(owner=make(account_id, ["read", "write"]), reader=make(account_id, ["read"]),
                  other=make(OTHER_ACCOUNT, ["read", "write"]))
