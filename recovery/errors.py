"""The engine's error tree. Expected outcomes (a decline, a refused retry) are values, not errors.

    RecoveryError
    ├── ConfigurationError        settings or a stored policy are invalid
    ├── PolicyError               a policy given by a user is invalid (-> HTTP 422)
    ├── NotFound                  an account, case or invoice the caller named does not exist
    └── GatewayError              talking to Stripe failed
        ├── GatewayUnavailable    rate limit, timeout, connection error, 5xx or 409:
        │                         retry later with the same idempotency key
        └── AccountAccessRevoked  401/403: the account's key no longer works; pause and alert
"""

from __future__ import annotations


class RecoveryError(Exception):
    """Base of every error the engine raises on purpose."""


class ConfigurationError(RecoveryError):
    pass


class PolicyError(RecoveryError):
    pass


class NotFound(RecoveryError):
    pass


class GatewayError(RecoveryError):
    pass


class GatewayUnavailable(GatewayError):
    """Transient: the same call may succeed later with the same idempotency key."""

    def __init__(self, message: str, *, retry_after_seconds: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class AccountAccessRevoked(GatewayError):
    """Stripe refused our credentials (401) or permissions (403)."""
