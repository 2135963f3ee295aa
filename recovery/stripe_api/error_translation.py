"""Stripe SDK errors become the engine's error tree here, and nowhere else.

Messages carry Stripe's HTTP status, error code and user-facing message; never a key (Stripe
masks keys in its own messages, and the request's key is not part of the error we build).
"""

from __future__ import annotations

import stripe

from recovery.errors import AccountAccessRevoked, GatewayError, GatewayUnavailable
from recovery.runtime.logs import mask_secrets


def translate_error(err: stripe.StripeError, *, keyed: bool = False) -> GatewayError:
    """Map every Stripe SDK error to the engine's error tree (the one place that does it).
    ``keyed``: the request carried an idempotency key."""
    if isinstance(err, stripe.RateLimitError | stripe.APIConnectionError | stripe.APIError):
        # APIError covers 5xx and 409 (idempotency_key_in_use, lock_timeout): all transient. A
        # 5xx is stored under the request's key and replayed for 24 h; a 409 or 429 is not.
        return GatewayUnavailable(
            f"Stripe is unavailable: {_describe(err)}",
            retry_after_seconds=_retry_after(err),
            key_spent=keyed and (err.http_status or 0) >= 500,
        )
    if isinstance(err, stripe.AuthenticationError | stripe.PermissionError):
        return AccountAccessRevoked(f"Stripe refused the account's key: {_describe(err)}")
    if isinstance(err, stripe.IdempotencyError):
        return GatewayError(
            f"idempotency key reused with different parameters (a bug): {_describe(err)}"
        )
    return GatewayError(f"Stripe refused the request: {_describe(err)}")


def _describe(err: stripe.StripeError) -> str:
    code = err.code or getattr(err.error, "code", None)
    status = f"HTTP {err.http_status}" if err.http_status else type(err).__name__
    detail = f"{status} {code}" if code else status
    return f"{detail}: {mask_secrets(err.user_message or 'no message')}"


def _retry_after(err: stripe.StripeError) -> float | None:
    headers = err.headers or {}
    value = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP-date: let the caller's own backoff decide
