"""An outgoing message becomes a standard email: both parts, its own Message-ID, RFC 8058."""

from __future__ import annotations

import email
from email import policy

import pytest

from recovery.errors import DeliveryRejected
from recovery.messaging.email_message import build_email
from tests.recovery.messaging.mail import UNSUBSCRIBE_URL, outgoing


def parsed(message) -> email.message.EmailMessage:
    """What a receiver reads: the bytes on the wire, parsed again."""
    return email.message_from_bytes(build_email(message).as_bytes(), policy=policy.default)


def body(mail, subtype: str = "plain") -> str:
    """A part's text with the wire's CRLF line ends read as newlines."""
    return mail.get_body((subtype,)).get_content().replace("\r\n", "\n")


def test_an_email_has_text_and_html_alternatives_and_every_header():
    mail = parsed(outgoing())
    assert mail.get_content_type() == "multipart/alternative"
    assert body(mail) == "Hello Ada,\nplease update your card.\n"
    assert "update your card</a>" in body(mail, "html")
    assert mail["Subject"] == "Please update your card"
    assert mail["From"] == "Shop <billing@shop.example>"
    assert mail["To"] == "Ada <ada@example.com>"
    assert mail["Reply-To"] == "help@shop.example"
    assert mail["Message-ID"] == "<action-7@payment-recovery.invalid>"
    assert mail["Date"].datetime == outgoing().sent_at
    assert mail["Content-Language"] == "en"
    assert mail["List-Unsubscribe"] == f"<{UNSUBSCRIBE_URL}>"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_without_html_the_email_is_plain_text_and_without_a_link_no_unsubscribe_headers():
    mail = parsed(outgoing(html=None, unsubscribe_url=None, reply_to=None))
    assert mail.get_content_type() == "text/plain"
    assert "please update your card" in mail.get_content()
    for header in ("List-Unsubscribe", "List-Unsubscribe-Post", "Reply-To"):
        assert mail[header] is None


def test_the_configured_sender_is_the_from_when_the_message_names_none():
    mail = build_email(outgoing(sender=None), mail_from="Billing <bills@default.example>")
    assert mail["From"] == "Billing <bills@default.example>"


def test_a_message_composed_without_rendered_text_still_says_its_subject_and_link():
    mail = parsed(outgoing(text=None, html=None))
    assert body(mail) == "Please update your card\n\nhttps://invoice.stripe.com/i/1\n"


def test_non_ascii_text_and_subject_survive_the_round_trip():
    mail = parsed(outgoing(subject="Zahlung fehlgeschlagen: 12,00 €", text="Grüße, Jürgen\n"))
    assert mail["Subject"] == "Zahlung fehlgeschlagen: 12,00 €"
    assert body(mail) == "Grüße, Jürgen\n"


def test_a_line_break_in_a_header_is_refused_not_injected():
    with pytest.raises(DeliveryRejected, match="cannot be written"):
        build_email(outgoing(subject="Hi\r\nBcc: victim@example.com"))
