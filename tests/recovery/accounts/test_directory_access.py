"""How the directory tells the gateway to reach each account: from its snapshot (no database read
per Stripe call), and never by falling back to the settings' key."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from recovery.accounts.directory import AccountDirectory
from recovery.errors import AccountAccessRevoked
from recovery.stripe_api.access import AccountAccess
from tests.recovery.accounts.conftest import OWN_KEY, SELLER
from tests.recovery.accounts.test_connect import connect_own
from tests.recovery.accounts.test_modes_and_connect import connect_seller


class CountingSessions:
    def __init__(self, sessions) -> None:
        self.sessions, self.opened = sessions, 0

    def __call__(self):
        self.opened += 1
        return self.sessions()


def test_access_comes_from_the_snapshot_without_a_database_read(desk, keyed_services,
                                                                keyed_settings,
                                                                stripe_accounts):
    connect_own(desk)
    connect_seller(desk)
    counting = CountingSessions(keyed_services.sessions)
    directory = AccountDirectory(counting, keyed_settings)
    directory.refresh()
    opened = counting.opened
    for _ in range(20):
        assert directory.stripe_account_of("own") == AccountAccess(api_key=OWN_KEY)
        assert directory.stripe_account_of("seller") == SELLER
        assert directory.stripe_account_of(keyed_settings.account_id) is None
    assert counting.opened == opened


def test_a_key_that_cannot_be_decrypted_never_falls_back_to_the_settings_key(
        desk, keyed_services, keyed_settings, stripe_accounts):
    connect_own(desk)
    other_key = keyed_settings.model_copy(
        update={"secrets_key": SecretStr(Fernet.generate_key().decode())})
    directory = AccountDirectory(keyed_services.sessions, other_key)
    with pytest.raises(AccountAccessRevoked, match="cannot be decrypted"):
        directory.stripe_account_of("own")
    assert directory.secrets_for("own") == ()


def test_an_account_added_since_the_snapshot_is_read_once(desk, keyed_services,
                                                          keyed_settings, stripe_accounts):
    directory = AccountDirectory(keyed_services.sessions, keyed_settings)
    directory.refresh()
    connect_own(desk)  # through the services' own directory: this one has not seen it
    assert directory.stripe_account_of("own") == AccountAccess(api_key=OWN_KEY)


def test_the_access_hides_the_key_wherever_it_is_shown():
    access = AccountAccess(api_key=OWN_KEY, stripe_account=SELLER)
    for shown in (repr(access), str(access), f"{access}", repr([access]), repr({"a": access})):
        assert OWN_KEY[8:] not in shown
        assert "sk_test_***" in shown and SELLER in shown
