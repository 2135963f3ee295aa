"""``recovery accounts add|list|remove`` against a real database, Stripe faked at the HTTP edge.
The key comes from an environment variable, a file or a hidden prompt: never an argument."""

from __future__ import annotations

import pytest
import respx
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from recovery.cli import app
from recovery.cli.common import console
from tests.recovery.accounts.conftest import OWN_ACCOUNT, OWN_KEY, SELLER
from tests.recovery.accounts.fake_accounts import PLATFORM_KEY, FakeStripeAccounts

SECRETS_KEY = Fernet.generate_key().decode()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    """Tables show whole ids (the console's width is fixed when it is made)."""
    monkeypatch.setattr(console, "width", 200)


@pytest.fixture
def stripe_accounts():
    fake = FakeStripeAccounts(keys={OWN_KEY: OWN_ACCOUNT}, connected={SELLER})
    with respx.mock(assert_all_called=False) as router:
        fake.install(router)
        yield fake


def run(services, *args: str, input: str | None = None, **env: str):
    environment = {"RECOVERY_DATABASE_URL": services.settings.database_url,
                   "RECOVERY_STRIPE_API_KEY": PLATFORM_KEY, "RECOVERY_SECRETS_KEY": SECRETS_KEY,
                   "RECOVERY_PUBLIC_BASE_URL": "https://recovery.example.com", **env}
    result = CliRunner().invoke(app, list(args), env=environment, input=input)
    assert OWN_KEY[8:] not in result.output
    return result


def test_add_from_the_environment_list_and_remove(services, stripe_accounts):
    added = run(services, "accounts", "add", "--key-from-env", "SHOP_KEY", "--id", "own",
                "--name", "Own shop", SHOP_KEY=OWN_KEY)
    assert added.exit_code == 0, added.output
    [endpoint] = stripe_accounts.live()
    assert "connected own (test mode, by key)" in added.output and endpoint.id in added.output
    listed = run(services, "accounts", "list")
    assert listed.exit_code == 0
    assert "own" in listed.output and "Own shop" in listed.output
    assert endpoint.id in listed.output and "key" in listed.output

    removed = run(services, "accounts", "remove", "own")
    assert removed.exit_code == 0, removed.output
    assert stripe_accounts.live() == []
    assert "Own shop" not in run(services, "accounts", "list").output
    assert "Own shop" in run(services, "accounts", "list", "--all").output
    assert run(services, "accounts", "remove", "own").exit_code == 2


def test_add_from_a_file_or_a_hidden_prompt(services, stripe_accounts, tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text(OWN_KEY + "\n")
    assert run(services, "accounts", "add", "--key-file", str(key_file),
               "--id", "from-file").exit_code == 0
    assert run(services, "accounts", "remove", "from-file").exit_code == 0
    # Typed at the prompt: not echoed back.
    prompted = run(services, "accounts", "add", "--id", "from-file", input=OWN_KEY + "\n")
    assert prompted.exit_code == 0, prompted.output


def test_add_a_connect_account(services, stripe_accounts):
    added = run(services, "accounts", "add", "--connect", SELLER, "--id", "seller")
    assert added.exit_code == 0, added.output
    assert "by connect" in added.output and stripe_accounts.live()[0].connect


@pytest.mark.parametrize("args", [
    ("accounts", "add", OWN_KEY),  # a key as an argument is not an option
    ("accounts", "add", "--key", OWN_KEY),
    ("accounts", "add", "--key-from-env", "UNSET_VARIABLE"),
    ("accounts", "add", "--key-from-env", "SHOP_KEY", "--connect", SELLER),
    ("accounts", "add", "--key-file", "/nonexistent/key"),
])
def test_refusals_exit_2_without_asking_stripe(services, stripe_accounts, args):
    assert run(services, *args, SHOP_KEY=OWN_KEY).exit_code == 2
    assert stripe_accounts.requests == []


def test_a_key_stripe_refuses_exits_2_with_the_reason(services, stripe_accounts):
    refused = run(services, "accounts", "add", "--key-from-env", "SHOP_KEY",
                  SHOP_KEY="sk_test_51RevokedKeyM1n2B3v4C5x6Z7l8K9j0")
    assert refused.exit_code == 2
    assert "cannot be used" in refused.output and "1n2B3v4C5x6Z7l8K9j0" not in refused.output
