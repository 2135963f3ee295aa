"""Test helpers for email: a message to send, a real aiosmtpd server, and a throwaway CA."""

from __future__ import annotations

import ipaddress
import socket
import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from recovery.messaging.notifier import OutgoingMessage

SENT_AT = datetime(2026, 12, 5, 9, 30, tzinfo=UTC)
UNSUBSCRIBE_URL = "https://pay.example.com/links/unsubscribe?t=abc.def"


def outgoing(**changes) -> OutgoingMessage:
    values = dict(
        account_id="acct_1", customer_id="cus_1", invoice_id="in_1", kind="card_update_request",
        channel="email", subject="Please update your card", sent_at=SENT_AT,
        link="https://invoice.stripe.com/i/1", message_id="<action-7@payment-recovery.invalid>",
        to_address="Ada <ada@example.com>", text="Hello Ada,\nplease update your card.\n",
        html="<p>Hello Ada, please <a href='https://x.example'>update your card</a>.</p>",
        locale="en", unsubscribe_url=UNSUBSCRIBE_URL, reply_to="help@shop.example",
        sender="Shop <billing@shop.example>")
    return OutgoingMessage(**values | changes)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes


@dataclass
class RecordingHandler:
    """Keeps each message; answers RCPT with ``rcpt_reply`` when one is set."""

    received: list[Received] = field(default_factory=list)
    rcpt_reply: str | None = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                      envelope.original_content or envelope.content))
        return "250 Message accepted"


class Credentials:
    """An aiosmtpd authenticator that accepts one user and password."""

    def __init__(self, user: str, password: str) -> None:
        self.user, self.password = user.encode(), password.encode()

    def __call__(self, server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == self.user
              and auth_data.password == self.password)
        return AuthResult(success=ok, handled=False)  # False: aiosmtpd answers the 535


def smtp_server(handler: RecordingHandler, **smtp_parameters) -> Controller:
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **smtp_parameters)
    controller.start()
    return controller


@dataclass(frozen=True)
class TestCertificates:
    server_context: ssl.SSLContext
    client_context: ssl.SSLContext


def certificates(folder: Path) -> TestCertificates:
    """A CA made for the test and a server certificate it signed for 127.0.0.1 / localhost."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "recovery test CA")])
    ca_cert = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
               .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - timedelta(minutes=5))
               .not_valid_after(now + timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                              critical=False)
               .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(*_pem_files(folder, cert, key))
    client = ssl.create_default_context(
        cadata=ca_cert.public_bytes(serialization.Encoding.PEM).decode())
    return TestCertificates(server, client)


def _pem_files(folder: Path, cert, key) -> tuple[Path, Path]:
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path
