"""Verify a Stripe webhook signature on the raw body. The only place signatures are checked.

The HMAC check is the stripe SDK's scheme (HMAC-SHA256 of ``"<t>.<body>"``, hex, compared in
constant time with every ``v1`` signature, ``t`` the header's first), computed here: the SDK hashes
the whole body in one call, and CPython lets go of the interpreter lock while it hashes more than
2 KiB, so on a busy server every request's check waited a thread switch interval to get the lock
back from the receiver's writer thread. Fed in smaller pieces, the hash keeps the lock and costs
microseconds. The age check uses the caller's clock (the SDK would read the wall clock, which
the sandbox's virtual time must be able to replace). Stripe only rejects *old* timestamps, so a
future timestamp passes, as with the SDK.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

# Stripe's libraries default to 300 s; a longer window lets a captured request be replayed longer.
MAX_TOLERANCE_SECONDS = 600
# Below CPython's threshold (2048 bytes) for releasing the interpreter lock while hashing.
_HASH_PIECE_BYTES = 2047


@dataclass(frozen=True)
class SignatureRejected(Exception):
    """Why a request was refused: ``code`` is a stable label for logs and counters."""

    # missing_signature | malformed_signature | bad_signature | stale_timestamp | no_secret
    code: str
    detail: str

    def __str__(self) -> str:
        return self.detail


def signature_timestamp(header: str) -> int:
    """The ``t=`` part of a ``Stripe-Signature`` header, or ``SignatureRejected``."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        raise SignatureRejected("malformed_signature", "Stripe-Signature has no valid t=") from None
    if not any(item.strip().startswith("v1=") for item in header.split(",")):
        raise SignatureRejected("malformed_signature", "Stripe-Signature has no v1 signature")
    return timestamp


def verify_signature(
    body: bytes, header: str | None, secrets: Sequence[str], *, now: datetime, tolerance: int
) -> None:
    """Accept when any configured secret matches any ``v1`` signature and the timestamp is no
    older than ``tolerance`` seconds (1..600: the age check cannot be switched off)."""
    if not 1 <= tolerance <= MAX_TOLERANCE_SECONDS:
        raise ValueError(f"tolerance must be 1..{MAX_TOLERANCE_SECONDS} seconds, got {tolerance}")
    if not header:
        raise SignatureRejected("missing_signature", "missing Stripe-Signature header")
    timestamp = signature_timestamp(header)
    if not secrets:
        raise SignatureRejected("no_secret", "no webhook signing secret is configured")
    try:
        body.decode("utf-8")  # the SDK signs text: a body that is not UTF-8 was not signed
    except UnicodeDecodeError:
        raise SignatureRejected("bad_signature", "body is not UTF-8") from None
    if not any(_matches(body, header, secret) for secret in secrets):
        raise SignatureRejected("bad_signature", "no signature matches a configured secret")
    if timestamp < now.timestamp() - tolerance:
        raise SignatureRejected(
            "stale_timestamp", f"signature timestamp is older than {tolerance} s"
        )


def _matches(body: bytes, header: str, secret: str) -> bool:
    """Whether ``secret`` signed ``body`` (UTF-8) under one of the header's ``v1`` signatures,
    as the SDK's ``WebhookSignature.verify_header`` decides (its header parsing included)."""
    items = [item.split("=", 2) for item in header.split(",")]
    stamp = next((item for item in items if item[0] == "t"), None)
    try:
        timestamp = int(stamp[1]) if stamp is not None else None
    except (IndexError, ValueError):
        return False
    signatures = [item[1] for item in items if item[0] == "v1" and len(item) > 1]
    if timestamp is None or not signatures:
        return False
    expected = _hmac_sha256_hex(secret.encode("utf-8"), b"%d." % timestamp + body)
    return any(signature.isascii() and hmac.compare_digest(expected, signature)
               for signature in signatures)


def _hmac_sha256_hex(key: bytes, message: bytes) -> str:
    mac = hmac.new(key, digestmod=hashlib.sha256)
    view = memoryview(message)
    for start in range(0, len(message), _HASH_PIECE_BYTES):
        mac.update(view[start:start + _HASH_PIECE_BYTES])
    return mac.hexdigest()
