"""The SMTP channel: one connection per message (plain, STARTTLS or implicit TLS, optional login).

Every failure raises, so the message stays pending and the re-send job tries again: a refused
connection, a timeout, a dropped connection or a 4xx reply as ``DeliveryUnavailable``; a 5xx
refusal of the sender, recipient or data as ``DeliveryRejected`` (the re-send job counts its
tries and marks the message failed). The password is never logged or put in an error.
"""

from __future__ import annotations

import smtplib
import ssl
from typing import Literal

from pydantic import SecretStr

from recovery.errors import DeliveryError, DeliveryRejected, DeliveryUnavailable
from recovery.messaging.email_message import DEFAULT_MAIL_FROM, build_email
from recovery.messaging.notifier import OutgoingMessage

Security = Literal["starttls", "tls", "none"]
SECURITIES = ("starttls", "tls", "none")


class SmtpChannel:
    def __init__(self, host: str, port: int = 587, security: Security = "starttls",
                 username: str | None = None, password: SecretStr | str | None = None,
                 timeout: float = 30.0, *, mail_from: str = DEFAULT_MAIL_FROM,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        if security not in SECURITIES:
            raise ValueError(f"smtp security must be one of {', '.join(SECURITIES)}")
        self.host, self.port, self.security = host, port, security
        self.username = username
        self._password = SecretStr(password) if isinstance(password, str) else password
        self.timeout = timeout
        self.mail_from = mail_from
        # The system's trusted CAs, with host name checks; tests pass their own CA's context.
        self.ssl_context = ssl_context or ssl.create_default_context()

    def __repr__(self) -> str:
        return (f"SmtpChannel(host={self.host!r}, port={self.port}, security={self.security!r},"
                f" username={self.username!r})")

    def deliver(self, message: OutgoingMessage) -> None:
        if not message.to_address:
            raise DeliveryRejected("the message has no recipient address")
        email = build_email(message, mail_from=self.mail_from)
        try:
            with self._connect() as server:
                server.send_message(email, to_addrs=[message.to_address])
        except DeliveryError:
            raise
        except smtplib.SMTPRecipientsRefused as refused:
            code, reply = next(iter(refused.recipients.values()))
            raise _by_code(code, f"the SMTP server refused the recipient: {code} "
                                 f"{_text(reply)}") from None
        except smtplib.SMTPResponseException as problem:  # sender, data, other replies
            raise _by_code(problem.smtp_code, f"the SMTP server answered {problem.smtp_code} "
                                              f"{_text(problem.smtp_error)}") from None
        except smtplib.SMTPNotSupportedError as problem:
            raise DeliveryUnavailable(f"the SMTP server lacks a needed extension: {problem}") \
                from None
        except ssl.SSLError as problem:
            raise DeliveryUnavailable(f"TLS with the SMTP server failed: {problem}") from None
        except (OSError, smtplib.SMTPException) as problem:  # refused, timeout, disconnected
            raise DeliveryUnavailable(f"the SMTP server {self.host}:{self.port} could not be "
                                      f"reached: {type(problem).__name__}: {problem}") from None

    def _connect(self) -> smtplib.SMTP:
        if self.security == "tls":
            server: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                                    context=self.ssl_context)
        else:
            server = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            server.ehlo()
            if self.security == "starttls":
                server.starttls(context=self.ssl_context)
                server.ehlo()
            if self.username:
                self._login(server)
        except BaseException:
            server.close()
            raise
        return server

    def _login(self, server: smtplib.SMTP) -> None:
        password = self._password.get_secret_value() if self._password else ""
        try:
            server.login(self.username or "", password)
        except smtplib.SMTPAuthenticationError as problem:
            # Not this message's fault: a fixed configuration delivers it on a later try.
            raise DeliveryUnavailable(
                f"the SMTP server refused the login of {self.username!r} ({problem.smtp_code}):"
                " check smtp_username and smtp_password") from None


def _by_code(code: int, text: str) -> DeliveryError:
    """4xx is a temporary refusal (greylisting, a full mailbox queue); 5xx a permanent one."""
    return DeliveryRejected(text) if 500 <= code < 600 else DeliveryUnavailable(text)


def _text(reply: bytes | str) -> str:
    return (reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply))[:300]
