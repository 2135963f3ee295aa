"""Sign webhook bodies exactly as Stripe does, with the SDK's own helper, for tests."""

from __future__ import annotations

import json
from datetime import datetime

import stripe


def sign(body: str, secret: str, at: datetime) -> str:
    return stripe.WebhookSignature.generate_signature_header(
        body, secret, timestamp=int(at.timestamp())
    )


def signed_request(payload: dict, secret: str, at: datetime) -> tuple[str, dict[str, str]]:
    """The exact body string and headers to POST for ``payload``."""
    body = json.dumps(payload)
    return body, {"Stripe-Signature": sign(body, secret, at), "Content-Type": "application/json"}
