"""The composition root picks the message channels, the link signer and the dashboard's session
secret from settings."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from recovery.messaging.links import UNSUBSCRIBE
from recovery.messaging.notifier import ChannelsByKind
from recovery.messaging.outbox import EmlOutboxChannel
from recovery.messaging.sms import SmsChannel
from recovery.messaging.smtp import SmtpChannel
from recovery.runtime.clock import VirtualClock
from recovery.runtime.settings import Settings
from recovery.wiring import build_channel, build_link_signer, build_session_secret

SMS = {"sms_enabled": True, "sms_account_sid": "AC1", "sms_auth_token": "tok-123456",
       "sms_from": "+15005550006"}


def never_called():
    raise AssertionError("no session is needed to build channels")


def test_without_an_smtp_host_email_goes_to_the_eml_outbox(tmp_path):
    channel = build_channel(Settings(outbox_dir=tmp_path / "out", mail_from="a@b.example"),
                            never_called)
    assert isinstance(channel, EmlOutboxChannel)
    assert (channel.folder, channel.mail_from) == (tmp_path / "out", "a@b.example")


def test_an_smtp_host_selects_smtp_with_its_options():
    channel = build_channel(Settings(smtp_host="mail.example.com", smtp_port=465,
                                     smtp_security="tls", smtp_username="u",
                                     smtp_password="pw-123456"), never_called)
    assert isinstance(channel, SmtpChannel)
    assert (channel.host, channel.port, channel.security, channel.username) == (
        "mail.example.com", 465, "tls", "u")
    assert "pw-123456" not in repr(channel)


def test_sms_is_off_by_default_and_routed_by_channel_when_enabled(tmp_path):
    assert not Settings().sms_enabled
    channel = build_channel(Settings(outbox_dir=tmp_path, **SMS), never_called)
    try:
        assert isinstance(channel, ChannelsByKind)
        assert isinstance(channel.channels["sms"], SmsChannel)
        assert isinstance(channel.channels["email"], EmlOutboxChannel)
    finally:
        channel.close()


def test_sms_needs_its_account_and_smtp_security_must_be_known():
    with pytest.raises(ValidationError, match="sms_account_sid"):
        Settings(sms_enabled=True)
    with pytest.raises(ValidationError, match="smtp_security"):
        Settings(smtp_security="ssl")
    with pytest.raises(ValidationError, match="32 characters"):
        Settings(link_secret="too-short")
    with pytest.raises(ValidationError, match="absolute"):
        Settings(public_base_url="pay.example.com")


def test_the_sandbox_generates_its_link_secret_on_first_use_and_keeps_it(tmp_path):
    path = tmp_path / "var" / "link.secret"
    settings = Settings(stripe_api_key="", link_secret_path=path)
    clock = VirtualClock(datetime(2026, 12, 5, tzinfo=UTC))
    signer = build_link_signer(settings, clock)
    assert not path.exists()  # building the services writes nothing
    token = signer.make(UNSUBSCRIBE, {"account_id": "acct_default", "customer_id": "cus_1"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # Another process (a new signer) reads the same secret, so the link still opens.
    assert build_link_signer(settings, clock).read(UNSUBSCRIBE, token)["customer_id"] == "cus_1"
    assert signer.max_age == timedelta(days=14)


def test_a_real_stripe_account_needs_a_configured_link_secret():
    clock = VirtualClock(datetime(2026, 12, 5, tzinfo=UTC))
    assert build_link_signer(Settings(stripe_api_key="sk_test_1"), clock) is None
    configured = build_link_signer(
        Settings(stripe_api_key="sk_test_1", link_secret="x" * 40, link_max_age_days=3), clock)
    assert configured is not None and configured.max_age == timedelta(days=3)


def test_the_sandbox_generates_its_session_secret_on_first_use_and_keeps_it(tmp_path):
    path = tmp_path / "var" / "session.secret"
    secret = build_session_secret(Settings(stripe_api_key="", session_secret_path=path))
    assert not path.exists()  # building the services writes nothing
    first = secret()
    assert len(first) >= 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    again = build_session_secret(Settings(stripe_api_key="", session_secret_path=path))
    assert again() == first  # another process signs and reads the same cookies


def test_a_real_stripe_account_signs_dashboard_sessions_only_with_a_configured_secret():
    assert build_session_secret(Settings(stripe_api_key="sk_test_1")) is None
    configured = build_session_secret(Settings(stripe_api_key="sk_test_1",
                                               session_secret="s" * 40))
    assert configured() == "s" * 40
    with pytest.raises(ValidationError, match="session secret must be at least 32"):
        Settings(session_secret="too-short")
