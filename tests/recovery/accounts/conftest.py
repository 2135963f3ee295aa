"""Fixtures for connecting accounts: services with a secrets key and a public URL, and Stripe's
account and webhook-endpoint API faked at the HTTP edge."""

from __future__ import annotations

import pytest
import respx
from cryptography.fernet import Fernet
from pydantic import SecretStr

from recovery.accounts.directory import ensure_default_account
from recovery.wiring import account_desk, build_services
from tests.recovery.accounts.fake_accounts import FakeStripeAccounts

PUBLIC_URL = "https://recovery.example.com"
OWN_KEY = "sk_test_51OwnSecretKeyA1b2C3d4E5f6G7h8I9j0"
OWN_LIVE_KEY = "rk_live_51OwnRestrictedKeyZ9y8X7w6V5u4"
OTHER_KEY = "sk_test_51OtherSecretKeyQ1w2E3r4T5y6U7i8"
OWN_ACCOUNT, OTHER_ACCOUNT = "acct_1OwnShop0000", "acct_1OtherShop00"
SELLER = "acct_1Seller00000"


@pytest.fixture
def keyed_settings(settings):
    return settings.model_copy(update={
        "secrets_key": SecretStr(Fernet.generate_key().decode()), "public_base_url": PUBLIC_URL})


@pytest.fixture
def keyed_services(keyed_settings, clock):
    services = build_services(keyed_settings, clock)
    ensure_default_account(services.sessions, keyed_settings, clock)
    yield services
    services.close()


@pytest.fixture
def desk(keyed_services):
    return account_desk(keyed_services)


@pytest.fixture
def stripe_accounts():
    fake = FakeStripeAccounts(
        keys={OWN_KEY: OWN_ACCOUNT, OWN_LIVE_KEY: OWN_ACCOUNT, OTHER_KEY: OTHER_ACCOUNT},
        connected={SELLER, "acct_1Seller00001"})
    with respx.mock(assert_all_called=False) as router:
        fake.install(router)
        yield fake
