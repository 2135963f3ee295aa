"""With no SMTP host, each email is one .eml file named from its Message-ID."""

from __future__ import annotations

import email
from email import policy

from recovery.messaging.outbox import EmlOutboxChannel, eml_name
from tests.recovery.messaging.mail import outgoing


def test_each_message_is_one_eml_file_and_a_resend_replaces_it(tmp_path):
    channel = EmlOutboxChannel(tmp_path / "outbox")
    channel.deliver(outgoing())
    channel.deliver(outgoing(subject="Please update your card (again)"))  # the re-send
    channel.deliver(outgoing(message_id="<action-8@payment-recovery.invalid>"))

    files = sorted(path.name for path in (tmp_path / "outbox").iterdir())
    assert files == ["action-7@payment-recovery.invalid.eml",
                     "action-8@payment-recovery.invalid.eml"]
    first = email.message_from_bytes(
        (tmp_path / "outbox" / files[0]).read_bytes(), policy=policy.default)
    assert first["Subject"] == "Please update your card (again)"
    assert first["Message-ID"] == "<action-7@payment-recovery.invalid>"
    assert first["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_file_names_are_safe_and_distinct_for_ids_with_unsafe_characters():
    plain = eml_name("<action-7@payment-recovery.invalid>")
    assert plain == "action-7@payment-recovery.invalid.eml"
    escaped = eml_name("<../../etc/passwd@x>")
    assert "/" not in escaped and not escaped.startswith(".")
    assert eml_name("<a/b@x>") != eml_name("<a_b@x>")
