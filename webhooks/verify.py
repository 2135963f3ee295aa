"""Verify a Stripe webhook signature on the raw body. The only place signatures are checked.

The HMAC check is the stripe SDK's; the age check uses the caller's clock (the SDK would read the
wall clock, which the sandbox's virtual time must be able to replace). Stripe only rejects
*old* timestamps, so a future timestamp passes, as with the SDK.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import stripe

# Stripe's libraries default to 300 s; a longer window lets a captured request be replayed longer.
MAX_TOLERANCE_SECONDS = 600


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
        payload = body.decode("utf-8")
    except UnicodeDecodeError:
        raise SignatureRejected("bad_signature", "body is not UTF-8") from None
    if not any(_matches(payload, header, secret) for secret in secrets):
        raise SignatureRejected("bad_signature", "no signature matches a configured secret")
    if timestamp < now.timestamp() - tolerance:
        raise SignatureRejected(
            "stale_timestamp", f"signature timestamp is older than {tolerance} s"
        )


def _matches(payload: str, header: str, secret: str) -> bool:
    try:
        # tolerance=None: the SDK checks only the HMAC here; the age is checked with our clock.
        return stripe.WebhookSignature.verify_header(payload, header, secret, tolerance=None)
    except stripe.SignatureVerificationError:
        return False
