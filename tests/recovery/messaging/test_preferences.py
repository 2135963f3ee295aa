"""Contact preferences: unsubscribe is idempotent, SMS needs an opt-in and an E.164 phone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from models import ContactPreference
from recovery.messaging.preferences import (
    ContactPreferences,
    preferences_of,
    preferences_reader,
    set_sms_opt_in,
    unsubscribe,
)
from recovery.runtime.db import transaction


def test_a_customer_without_preferences_gets_the_defaults(services):
    with services.sessions() as session:
        assert preferences_of(session, "acct_default", "cus_1") == ContactPreferences()
        assert preferences_of(session, "acct_default", None) == ContactPreferences()


def test_unsubscribing_twice_keeps_the_first_time_and_the_sms_choice(services, clock):
    account, first = services.settings.account_id, clock.now()
    with transaction(services.sessions) as session:
        set_sms_opt_in(session, account, "cus_1", True, "+4915112345678", first)
        unsubscribe(session, account, "cus_1", first)
    with transaction(services.sessions) as session:
        unsubscribe(session, account, "cus_1", first + timedelta(days=1))
    read = preferences_reader(services.sessions)
    assert read(account, "cus_1") == ContactPreferences(unsubscribed=True, sms_opt_in=True,
                                                        phone="+4915112345678")
    assert read(account, "cus_2") == ContactPreferences()
    with services.sessions() as session:
        assert session.scalar(select(ContactPreference.email_unsubscribed_at)) == first


def test_sms_opt_in_needs_a_valid_phone(services, clock):
    account = services.settings.account_id
    with transaction(services.sessions) as session:
        with pytest.raises(ValueError, match="E.164"):
            set_sms_opt_in(session, account, "cus_1", True, "0151 123", clock.now())
        with pytest.raises(ValueError, match="phone number"):
            set_sms_opt_in(session, account, "cus_1", True, None, clock.now())
        set_sms_opt_in(session, account, "cus_1", True, "+14155550100", clock.now())
        set_sms_opt_in(session, account, "cus_1", False, None, clock.now())
        assert preferences_of(session, account, "cus_1") == ContactPreferences()
