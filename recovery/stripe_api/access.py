"""Whose Stripe data a request reaches: the gateway's own key, an account's own key, a Connect
account under the platform's key. Turned into per-request options, never into a log line.

The gateway's ``stripe_account=`` parameters take a ``StripeAccess``: ``None`` (the key the
gateway was built with), an ``acct_`` id (that key acting as a Connect account: the
``Stripe-Account`` header) or an ``AccountAccess`` (an account's own key, optionally with a
Connect account). A key is kept out of ``repr`` and of anything the rate limiter stores: it paces
by the Stripe account, or by a digest of the key.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

import stripe

# Secret (sk_) and restricted (rk_) keys; publishable keys (pk_) cannot read or write billing.
API_KEY_PATTERN = re.compile(r"(?P<kind>sk|rk)_(?P<mode>live|test)_[A-Za-z0-9_]{8,247}")
CONNECT_ACCOUNT_PATTERN = re.compile(r"acct_[A-Za-z0-9]{1,59}")


@dataclass(frozen=True)
class AccountAccess:
    """An account's own API key (``None``: the gateway's), and the Connect account to act as."""

    api_key: str | None = field(default=None, repr=False)
    stripe_account: str | None = None

    def __repr__(self) -> str:
        key = "None" if self.api_key is None else f"'{masked_key(self.api_key)}'"
        return f"AccountAccess(api_key={key}, stripe_account={self.stripe_account!r})"

    __str__ = __repr__


StripeAccess = str | AccountAccess | None


def masked_key(key: str) -> str:
    """What may be shown of a key: its kind and mode (``sk_live_***``), nothing of the secret."""
    match = API_KEY_PATTERN.fullmatch(key)
    return f"{match['kind']}_{match['mode']}_***" if match else "***"


def key_livemode(key: str) -> bool | None:
    """True for a live key, False for a test key, None when ``key`` is not a secret or
    restricted key at all."""
    match = API_KEY_PATTERN.fullmatch(key)
    return None if match is None else match["mode"] == "live"


def key_digest(key: str) -> str:
    """A stable name for a key that reveals nothing of it (rate-limit buckets, audit rows)."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def pacing_key(access: StripeAccess) -> str:
    """The rate limiter's bucket: Stripe limits requests per account."""
    if isinstance(access, AccountAccess):
        if access.stripe_account is not None:
            return access.stripe_account
        if access.api_key is not None:
            return f"key:{key_digest(access.api_key)}"
        return "default"
    return access or "default"


def request_options(access: StripeAccess, idempotency_key: str | None) -> stripe.RequestOptions:
    """The SDK's per-request options for ``access`` (and the request's idempotency key)."""
    options: stripe.RequestOptions = {}
    if isinstance(access, AccountAccess):
        if access.api_key is not None:
            options["api_key"] = access.api_key
        if access.stripe_account is not None:
            options["stripe_account"] = access.stripe_account
    elif access is not None:
        options["stripe_account"] = access
    if idempotency_key is not None:
        options["idempotency_key"] = idempotency_key
    return options
