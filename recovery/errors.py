"""The engine's error tree. Expected outcomes (a decline, a refused retry) are values, not errors.

    RecoveryError
    ├── ConfigurationError        settings or a stored policy are invalid
    ├── PolicyError               a policy given by a user is invalid (-> HTTP 422);
    │                             ``field_errors`` names each wrong field by its JSON path
    ├── InvalidReportQuery        a report was asked for an impossible period, window or
    │                             grouping (-> HTTP 422)
    ├── ExperimentError           an experiment given by a user is invalid (a split outside
    │                             1-99%, a customer without an id) (-> HTTP 422)
    ├── NotFound                  an account, case or invoice the caller named does not exist
    │                             (also another account's: -> HTTP 404, never 403)
    ├── NotAuthenticated          no API token, or one that is unknown or revoked (-> HTTP 401)
    ├── ScopeMissing              the token lacks the scope the request needs (-> HTTP 403)
    ├── FormRejected              a dashboard form came without its session's CSRF token
    │                             (-> HTTP 403)
    ├── AccountRejected           an account cannot be connected as asked: a malformed key, a key
    │                             Stripe refused, a key of the other mode (-> HTTP 422)
    ├── AccountConflict           the Stripe account or the id is already connected in that mode
    │                             (-> HTTP 409)
    ├── ClaimLost                 a worker's claim on a queue row ended (its lease ran out and
    │                             another worker took the row): stop, write nothing
    ├── LinkRejected              a signed link (unsubscribe, offer) is tampered with, expired or
    │                             already used (-> HTTP 400 / 410); ``reason`` says which
    ├── InvalidEndpoint           an outbound webhook endpoint given by a user is invalid (a
    │                             URL that is not https, an unknown event type) (-> HTTP 422)
    ├── DeliveryError             a message channel (or an outbound webhook endpoint) did not
    │   │                         accept a message: it is tried again later, up to its tries
    │   ├── DeliveryUnavailable   transient: connection refused, timeout, SMTP 4xx, HTTP 408,
    │   │                         429 or 5xx (``retry_after_seconds`` when the receiver says)
    │   └── DeliveryRejected      permanent: SMTP 5xx for the recipient, HTTP 4xx, no address,
    │                             no SMS opt-in; trying again will not help
    └── GatewayError              talking to Stripe failed
        ├── GatewayUnavailable    rate limit, timeout, connection error, 5xx or 409: retry later
        │                         with the same idempotency key (a new one after a 5xx that
        │                         Stripe stored under the key: ``key_spent``)
        ├── AccountAccessRevoked  401/403: the account's key no longer works; pause and alert
        └── ChargeRefused         Stripe would not charge, for a reason the engine cannot act
                                  on: the action is tried again, then fails with an alert
"""

from __future__ import annotations


class RecoveryError(Exception):
    """Base of every error the engine raises on purpose."""


class ConfigurationError(RecoveryError):
    pass


class PolicyError(RecoveryError):
    """``field_errors``: every wrong field, as ``{"loc": ["segments", 0, "match",
    "amount_min"], "msg": "must be a whole number of at least 0"}`` (the JSON path of the value
    in the policy document; empty when the error names no field)."""

    def __init__(self, message: str, *, field_errors: list[dict] | None = None) -> None:
        super().__init__(message)
        self.field_errors = list(field_errors or [])


class InvalidReportQuery(RecoveryError):
    """A report's period is empty or reversed, its window is out of range, or its grouping is
    unknown."""


class ExperimentError(RecoveryError):
    """An A/B experiment between policy versions cannot be set up as asked."""


class NotFound(RecoveryError):
    pass


class NotAuthenticated(RecoveryError):
    pass


class ScopeMissing(RecoveryError):
    pass


class FormRejected(RecoveryError):
    """A dashboard form whose CSRF token is missing or is not its session's: another site may
    have sent it."""


class AccountRejected(RecoveryError):
    """The key or Connect account given cannot be connected; the message says why (and never
    holds the key)."""


class AccountConflict(RecoveryError):
    pass


class ClaimLost(RecoveryError):
    """The row is no longer claimed by this worker: its work must stop without writing."""


class GatewayError(RecoveryError):
    pass


class GatewayUnavailable(GatewayError):
    """Transient: the same call may succeed later.

    ``key_spent``: Stripe answered a keyed POST with a 5xx, which it stores under the idempotency
    key and replays for 24 h, so only a new key can try again
    (https://docs.stripe.com/api/idempotent_requests). Rate limits, timeouts and connection
    errors are not stored: the same key is the safe retry.
    """

    def __init__(self, message: str, *, retry_after_seconds: float | None = None,
                 key_spent: bool = False) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds
        self.key_spent = key_spent


class AccountAccessRevoked(GatewayError):
    """Stripe refused our credentials (401) or permissions (403)."""


class ChargeRefused(GatewayError):
    """Stripe refused a charge (or the invoice is in a state no step expects) and nothing the
    engine knows how to plan follows from it."""


class LinkRejected(RecoveryError):
    """A signed link cannot be used. ``reason``: ``invalid`` (tampered with, malformed, signed
    for another purpose), ``expired`` or ``used`` (a single-use link opened before)."""

    REASONS = ("invalid", "expired", "used")

    def __init__(self, reason: str, message: str) -> None:
        if reason not in self.REASONS:
            raise ValueError(f"unknown link rejection reason: {reason!r}")
        super().__init__(message)
        self.reason = reason


class DeliveryError(RecoveryError):
    """A channel did not accept a message."""


class InvalidEndpoint(RecoveryError):
    """An outbound webhook endpoint cannot be stored or used as given."""


class DeliveryUnavailable(DeliveryError):
    """Transient: the same message may be accepted later (not before ``retry_after_seconds``,
    when the receiver said so)."""

    def __init__(self, message: str, *, retry_after_seconds: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class DeliveryRejected(DeliveryError):
    """Permanent: the receiver (or our own data) refuses this message; only a change of address,
    consent or configuration makes it deliverable."""
