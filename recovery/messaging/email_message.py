"""Turns an ``OutgoingMessage`` into an RFC 5322 email with the standard library's ``email``
package: text and HTML as ``multipart/alternative``, the message's own Message-ID, and the
one-click unsubscribe headers of RFC 8058. No MIME is assembled by hand here.
"""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from recovery.errors import DeliveryRejected
from recovery.messaging.notifier import MESSAGE_ID_DOMAIN, OutgoingMessage

DEFAULT_MAIL_FROM = "billing@example.invalid"
ONE_CLICK = "List-Unsubscribe=One-Click"  # RFC 8058's List-Unsubscribe-Post value


def build_email(message: OutgoingMessage, *, mail_from: str = DEFAULT_MAIL_FROM) -> EmailMessage:
    """The email for ``message``; ``mail_from`` is the From when the message names no sender.

    Raises ``DeliveryRejected`` for a header value the email package refuses (a line break in a
    subject, an unparsable address): the same message would be refused on every try.
    """
    email = EmailMessage(policy=policy.SMTP)
    try:
        _set_headers(email, message, mail_from)
    except (ValueError, IndexError) as problem:  # the header registry's parse errors
        raise DeliveryRejected(f"the message cannot be written as an email: {problem}") from None
    email.set_content(message.text or _fallback_text(message))
    if message.html:
        email.add_alternative(message.html, subtype="html")
    if message.locale:
        # After the parts are made: making the alternative moves Content-* headers into them.
        email["Content-Language"] = message.locale
    return email


def _set_headers(email: EmailMessage, message: OutgoingMessage, mail_from: str) -> None:
    email["Subject"] = message.subject
    email["From"] = message.sender or mail_from
    if message.to_address:
        email["To"] = message.to_address
    if message.reply_to:
        email["Reply-To"] = message.reply_to
    email["Date"] = format_datetime(message.sent_at)
    # The message row's id, the same on every re-send, so a receiver can drop a repeat; a
    # message composed without one (never by the notify step) gets a fresh id.
    email["Message-ID"] = message.message_id or make_msgid(domain=MESSAGE_ID_DOMAIN)
    # Marks the message as automatic, so auto-responders do not answer it (RFC 3834).
    email["Auto-Submitted"] = "auto-generated"
    if message.unsubscribe_url:
        # RFC 8058: the mailbox provider POSTs "List-Unsubscribe=One-Click" to this URL, which
        # must be https for providers to offer the button.
        email["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
        email["List-Unsubscribe-Post"] = ONE_CLICK


def _fallback_text(message: OutgoingMessage) -> str:
    """The body of a message composed without a rendered text: its subject and its link."""
    lines = [message.subject]
    if message.link:
        lines += ["", message.link]
    return "\n".join(lines) + "\n"
