"""Accounts' webhook secrets are encrypted at rest, rotate with the key, and still verify."""

from __future__ import annotations

import stat
import time

import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError
from sqlalchemy import insert, text
from sqlmodel import select

from models import Account, WebhookEvent
from recovery.accounts.directory import AccountDirectory
from recovery.accounts.secret_box import SecretBox, SecretsKeyMissing
from recovery.app import create_app
from recovery.runtime.settings import Settings
from recovery.wiring import build_services
from tests.webhooks.signing import signed_request

CONNECTED = "acct_1SellerConnected"
SELLER_SECRET = "whsec_seller_signing_secret_a1b2c3"


def connect_event(event_id: str = "evt_seller_1") -> dict:
    return {"id": event_id, "object": "event", "type": "invoice.paid", "account": CONNECTED,
            "api_version": "2026-10-28.endive", "created": 1793973600, "livemode": False,
            "data": {"object": {"id": "in_1", "object": "invoice"}}}


def add_seller(services, webhook_secrets: str = "") -> None:
    with services.sessions() as session:
        session.execute(insert(Account).values(
            id="acct_seller", name="seller", stripe_account_id=CONNECTED,
            webhook_secrets=webhook_secrets, created_at=services.clock.now()))
        session.commit()


def stored_column(services) -> str:
    with services.sessions() as session:
        return session.execute(
            text("SELECT webhook_secrets FROM account WHERE id = 'acct_seller'")).scalar_one()


def keyed(settings: Settings, *keys: bytes) -> Settings:
    joined = ",".join(k.decode() for k in keys)
    return settings.model_copy(update={"secrets_key": SecretStr(joined)})


@pytest.fixture
def key() -> bytes:
    return Fernet.generate_key()


@pytest.fixture
def keyed_services(settings, clock, key):
    services = build_services(keyed(settings, key), clock)
    yield services
    services.close()


def test_the_stored_column_hides_the_secret_and_the_receiver_still_verifies(keyed_services,
                                                                           clock):
    services = keyed_services
    with TestClient(create_app(services, run_worker=False)) as client:
        add_seller(services)
        services.accounts.set_webhook_secrets("acct_seller", [SELLER_SECRET])
        body, headers = signed_request(connect_event(), SELLER_SECRET, clock.now())
        assert client.post("/webhooks/stripe", content=body, headers=headers).status_code == 200
    column = stored_column(services)
    assert column.startswith("fernet:")
    assert "whsec_" not in column and "seller_signing" not in column
    with services.sessions() as session:
        assert session.exec(select(WebhookEvent.account_id)).all() == ["acct_seller"]


def test_secrets_stored_in_plain_text_are_sealed_when_a_key_is_configured(keyed_services):
    add_seller(keyed_services, webhook_secrets=f"{SELLER_SECRET}, whsec_older_secret_000")
    keyed_services.accounts.refresh()
    assert keyed_services.accounts.secrets_for("acct_seller") == (
        SELLER_SECRET, "whsec_older_secret_000")
    assert stored_column(keyed_services).startswith("fernet:")


def test_rotating_the_key_keeps_old_secrets_readable_and_reseals_them(settings, clock, key):
    old_services = build_services(keyed(settings, key), clock)
    add_seller(old_services)
    old_services.accounts.set_webhook_secrets("acct_seller", [SELLER_SECRET])
    old_services.close()

    new_key = Fernet.generate_key()
    rotated = build_services(keyed(settings, new_key, key), clock)
    rotated.accounts.refresh()
    assert rotated.accounts.secrets_for("acct_seller") == (SELLER_SECRET,)
    rotated.close()
    # Now sealed with the new key alone: the old one can be retired.
    opened = SecretBox([new_key]).open(stored_column(rotated))
    assert (opened.secrets, opened.needs_resealing) == ((SELLER_SECRET,), False)


def test_without_a_key_a_real_account_refuses_to_store_and_serves_the_others(settings, clock,
                                                                            key):
    services = build_services(keyed(settings, key), clock)
    add_seller(services)
    services.accounts.set_webhook_secrets("acct_seller", [SELLER_SECRET])
    services.close()

    keyless = build_services(settings, clock)  # a real Stripe key, no secrets key
    keyless.accounts.refresh()
    assert keyless.accounts.secrets_for("acct_seller") == ()
    assert keyless.accounts.secrets_for(settings.account_id) == settings.webhook_secrets
    with pytest.raises(SecretsKeyMissing, match="RECOVERY_SECRETS_KEY"):
        keyless.accounts.set_webhook_secrets("acct_seller", [SELLER_SECRET])
    keyless.close()


def test_the_sandbox_keeps_a_generated_key_of_its_own_in_var(tmp_path, sqlite_template):
    path = tmp_path / "var" / "secrets.key"
    settings = Settings(database_url=f"sqlite:///{sqlite_template}", secrets_key_path=path)
    assert settings.sandbox and not path.exists()
    sealed = SecretBox.from_settings(settings).seal([SELLER_SECRET])
    assert path.exists() and stat.S_IMODE(path.stat().st_mode) == 0o600
    # Another process (a restart) finds the same key.
    assert SecretBox.from_settings(settings).open(sealed).secrets == (SELLER_SECRET,)


@pytest.mark.parametrize("value", ["not-a-fernet-key", "changeme", "Zm9v"])
def test_a_secrets_key_that_is_not_a_fernet_key_is_refused_at_start_up(monkeypatch, value):
    monkeypatch.setenv("RECOVERY_SECRETS_KEY", value)
    with pytest.raises(ValidationError, match="secrets_key"):
        Settings()


def test_an_account_added_by_another_process_is_served_after_the_snapshot_ages(keyed_services,
                                                                               settings, key):
    services = keyed_services
    seconds = [0.0]
    directory = AccountDirectory(services.sessions, keyed(settings, key), max_age_seconds=30,
                                 monotonic=lambda: seconds[0])
    directory.refresh()
    add_seller(services)
    services.accounts.set_webhook_secrets("acct_seller", [SELLER_SECRET])  # "another process"
    assert directory.resolve_account(connect_event()) is None

    seconds[0] = 31.0  # the snapshot is stale: answered from it, refreshed in the background
    assert directory.resolve_account(connect_event()) is None
    deadline = time.monotonic() + 10
    while directory.resolve_account(connect_event()) is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert directory.resolve_account(connect_event()) == "acct_seller"
    assert directory.secrets_for("acct_seller") == (SELLER_SECRET,)
