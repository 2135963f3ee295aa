"""The dashboard's fixtures: the app with a session secret, tokens for the settings' account
(read+write and read-only) and for a second account, and a browser-like client that signs in."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from recovery.accounts.tokens import create_token
from recovery.app import create_app
from recovery.runtime.settings import Settings
from tests.conftest import WEBHOOK_SECRET
from tests.recovery.dashboard.seed import OTHER_ACCOUNT, seed_cases

SESSION_SECRET = "dashboard-test-session-secret-0123456789"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def settings(database_url, tmp_path) -> Settings:
    return Settings(database_url=database_url, stripe_webhook_secrets=WEBHOOK_SECRET,
                    stripe_api_key="sk_test_engine_tests", run_worker=False,
                    outbox_dir=tmp_path / "outbox", session_secret=SESSION_SECRET)


@dataclass(frozen=True)
class DashboardTokens:
    owner: str  # read and write, the settings' account
    reader: str  # read only
    other: str  # read and write, the second account
    owner_id: int


@pytest.fixture
def dashboard(services):
    with TestClient(create_app(services, run_worker=False)) as client:
        yield client


@pytest.fixture
def tokens(services, dashboard) -> DashboardTokens:
    """Needs ``dashboard``: the app's start-up creates the settings' account."""
    seed_cases(services)

    def make(account_id: str, scopes: list[str]) -> tuple[int, str]:
        info, token = create_token(services.sessions, services.clock, account_id=account_id,
                                   name="dashboard test", scopes=scopes, actor="test")
        return info.id, token

    owner_id, owner = make(services.settings.account_id, ["read", "write"])
    return DashboardTokens(owner, make(services.settings.account_id, ["read"])[1],
                           make(OTHER_ACCOUNT, ["read", "write"])[1], owner_id)


def csrf_token(page_html: str) -> str:
    found = CSRF.search(page_html)
    assert found, "the page carries no CSRF token"
    return found.group(1)


def sign_in(client: TestClient, token: str):
    """Sign in as a browser does: open the form, post it with its CSRF token."""
    form = client.get("/dashboard/login")
    return client.post("/dashboard/login", data={"csrf_token": csrf_token(form.text),
                                                 "token": token}, follow_redirects=False)
