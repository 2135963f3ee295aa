"""The SMTP channel against a real aiosmtpd server: plain, STARTTLS, implicit TLS and login;
transient failures raise DeliveryUnavailable, permanent refusals DeliveryRejected."""

from __future__ import annotations

import email
import logging
from email import policy

import pytest

from recovery.errors import DeliveryRejected, DeliveryUnavailable
from recovery.messaging.smtp import SmtpChannel
from tests.recovery.messaging.mail import (
    UNSUBSCRIBE_URL,
    Credentials,
    RecordingHandler,
    certificates,
    free_port,
    outgoing,
    smtp_server,
)


@pytest.fixture
def handler():
    return RecordingHandler()


@pytest.fixture
def certs(tmp_path):
    return certificates(tmp_path)


@pytest.fixture
def servers():
    # The test server logs each session a test ends on purpose (a refused certificate) with a
    # traceback, from its own thread: kept quiet here.
    server_log = logging.getLogger("mail.log")
    level = server_log.level
    server_log.setLevel(logging.CRITICAL)
    started = []
    yield started
    for controller in started:
        controller.stop()
    server_log.setLevel(level)


def start(servers, handler, **parameters):
    controller = smtp_server(handler, **parameters)
    servers.append(controller)
    return controller


def assert_received_whole(handler: RecordingHandler) -> None:
    (received,) = handler.received
    assert received.mail_from == "billing@shop.example"
    assert received.rcpt_tos == ["ada@example.com"]
    mail = email.message_from_bytes(received.content, policy=policy.default)
    assert mail["Message-ID"] == "<action-7@payment-recovery.invalid>"
    assert mail["List-Unsubscribe"] == f"<{UNSUBSCRIBE_URL}>"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mail.get_body(("plain",)).get_content().startswith("Hello Ada")
    assert "update your card</a>" in mail.get_body(("html",)).get_content()
    assert mail["Bcc"] is None


def test_plain_smtp_delivers_the_whole_message(servers, handler):
    server = start(servers, handler)
    SmtpChannel(server.hostname, server.port, "none", timeout=5).deliver(outgoing())
    assert_received_whole(handler)


def test_starttls_with_login_delivers_the_message(servers, handler, certs):
    server = start(servers, handler, tls_context=certs.server_context, require_starttls=True,
                   auth_required=True, authenticator=Credentials("mailer", "s3cret-pass"))
    channel = SmtpChannel(server.hostname, server.port, "starttls", "mailer", "s3cret-pass",
                          timeout=5, ssl_context=certs.client_context)
    channel.deliver(outgoing())
    assert_received_whole(handler)
    assert "s3cret-pass" not in repr(channel)


def test_implicit_tls_delivers_the_message(servers, handler, certs):
    server = start(servers, handler, ssl_context=certs.server_context)
    SmtpChannel(server.hostname, server.port, "tls", timeout=5,
                ssl_context=certs.client_context).deliver(outgoing())
    assert_received_whole(handler)


# The test server allows login without TLS on purpose (aiosmtpd warns about it).
plain_login = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


@plain_login
def test_login_without_tls_on_a_plain_server(servers, handler):
    server = start(servers, handler, auth_required=True, auth_require_tls=False,
                   authenticator=Credentials("mailer", "pw-1234"))
    SmtpChannel(server.hostname, server.port, "none", "mailer", "pw-1234",
                timeout=5).deliver(outgoing())
    assert len(handler.received) == 1


@plain_login
def test_a_wrong_password_raises_a_transient_error_that_names_the_settings(servers, handler):
    server = start(servers, handler, auth_required=True, auth_require_tls=False,
                   authenticator=Credentials("mailer", "right"))
    channel = SmtpChannel(server.hostname, server.port, "none", "mailer", "wrong", timeout=5)
    with pytest.raises(DeliveryUnavailable, match="smtp_password") as raised:
        channel.deliver(outgoing())
    assert "wrong" not in str(raised.value)
    assert handler.received == []


def test_a_refused_connection_raises_a_transient_error():
    channel = SmtpChannel("127.0.0.1", free_port(), "none", timeout=2)
    with pytest.raises(DeliveryUnavailable, match="could not be reached"):
        channel.deliver(outgoing())


def test_an_untrusted_certificate_is_refused(servers, handler, certs):
    server = start(servers, handler, tls_context=certs.server_context)
    # The system's CAs do not know the test's CA.
    with pytest.raises(DeliveryUnavailable, match="TLS"):
        SmtpChannel(server.hostname, server.port, "starttls", timeout=5).deliver(outgoing())
    assert handler.received == []


@pytest.mark.parametrize(("reply", "error"), [
    ("451 4.3.0 try again later", DeliveryUnavailable),
    ("550 5.1.1 no such mailbox", DeliveryRejected),
])
def test_a_recipient_refusal_raises_by_its_reply_class(servers, handler, reply, error):
    handler.rcpt_reply = reply
    server = start(servers, handler)
    with pytest.raises(error, match=reply.split()[0]):
        SmtpChannel(server.hostname, server.port, "none", timeout=5).deliver(outgoing())


def test_a_message_without_a_recipient_is_refused_before_connecting():
    with pytest.raises(DeliveryRejected, match="no recipient"):
        SmtpChannel("127.0.0.1", free_port(), "none").deliver(outgoing(to_address=None))
