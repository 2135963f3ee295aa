"""Posting one outbound event to one endpoint, signed the Standard Webhooks way
(https://www.standardwebhooks.com/): the ``standardwebhooks`` package signs
``<webhook-id>.<webhook-timestamp>.<body>`` with HMAC-SHA256 under the endpoint's ``whsec_``
secret; the headers ``webhook-id`` (the event's id, the same on every try),
``webhook-timestamp`` (when this try was signed) and ``webhook-signature`` carry it.

The answer becomes a value, never an exception: 2xx delivered; 5xx, 408, 429, a timeout or no
connection is worth trying again; anything else (another 4xx, a redirect, a URL the settings no
longer allow) is refused for good. No database here: the step records what happened.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from standardwebhooks.webhooks import Webhook

from models import DeliveryOutcome
from recovery.accounts.outbound_endpoints import check_endpoint_url
from recovery.accounts.secret_box import SecretBox
from recovery.errors import InvalidEndpoint
from recovery.runtime.clock import Clock, wall_clock
from recovery.runtime.settings import Settings

TRANSIENT_STATUSES = frozenset({408, 429})
USER_AGENT = "payment-recovery-engine-webhooks/1"
ERROR_EXCERPT_BYTES = 300  # of a refusal's body, for the delivery log; the rest is not read


@dataclass(frozen=True)
class PostResult:
    outcome: DeliveryOutcome
    status_code: int | None  # None: no HTTP answer
    error: str | None
    duration_ms: int
    retry_after_seconds: float | None = None


def body_of(payload: dict) -> bytes:
    """The bytes sent for an event: the same on every try, so the same signature input."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8")


def signed_headers(secret: str, event_id: str, body: bytes, at: datetime) -> dict[str, str]:
    """The Standard Webhooks headers for ``body`` signed at ``at`` (whole seconds)."""
    signed_at = datetime.fromtimestamp(int(at.timestamp()), UTC)
    signature = Webhook(secret).sign(event_id, signed_at, body.decode("utf-8"))
    return {"webhook-id": event_id, "webhook-timestamp": str(int(signed_at.timestamp())),
            "webhook-signature": signature, "content-type": "application/json",
            "user-agent": USER_AGENT}


class OutboundPoster:
    """Signs and posts event bodies; holds the HTTP client and the key to the secrets."""

    def __init__(self, client: httpx.Client, box: SecretBox, clock: Clock, *,
                 allow_local_http: bool = False) -> None:
        self.client = client
        self.box = box
        # Signature ages are checked by receivers against their real time.
        self.clock = wall_clock(clock)
        self.allow_local_http = allow_local_http

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock) -> OutboundPoster:
        # Redirects are not followed: a signed event goes only where the account said.
        client = httpx.Client(timeout=settings.outbound_timeout_seconds, follow_redirects=False)
        return cls(client, SecretBox.from_settings(settings), clock,
                   allow_local_http=settings.outbound_local_http_allowed)

    def post(self, url: str, sealed_secret: str, event_id: str, payload: dict) -> PostResult:
        try:
            check_endpoint_url(url, allow_local_http=self.allow_local_http)
        except InvalidEndpoint as problem:
            return PostResult(DeliveryOutcome.refused, None, str(problem), 0)
        (secret,) = self.box.open(sealed_secret).secrets
        body = body_of(payload)
        headers = signed_headers(secret, event_id, body, self.clock.now())
        started = time.perf_counter()
        try:
            with self.client.stream("POST", url, content=body, headers=headers) as response:
                excerpt = None if response.is_success else _excerpt(response)
        except httpx.HTTPError as problem:  # connect errors, timeouts, broken answers
            return PostResult(DeliveryOutcome.transient, None,
                              f"{type(problem).__name__}: {problem}"[:500], _ms_since(started))
        return _judge(response, excerpt, _ms_since(started))

    def close(self) -> None:
        self.client.close()


def _judge(response: httpx.Response, excerpt: str | None, duration_ms: int) -> PostResult:
    code = response.status_code
    if response.is_success:
        return PostResult(DeliveryOutcome.delivered, code, None, duration_ms)
    error = f"HTTP {code}: {excerpt}" if excerpt else f"HTTP {code}"
    if code >= 500 or code in TRANSIENT_STATUSES:
        return PostResult(DeliveryOutcome.transient, code, error, duration_ms,
                          _retry_after(response))
    return PostResult(DeliveryOutcome.refused, code, error, duration_ms)


def _excerpt(response: httpx.Response) -> str:
    read = b""
    for chunk in response.iter_bytes():
        read += chunk
        if len(read) >= ERROR_EXCERPT_BYTES:
            break
    return read[:ERROR_EXCERPT_BYTES].decode("utf-8", "replace").strip()


def _retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds, when the receiver gave one as a number."""
    value = response.headers.get("retry-after", "").strip()
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds > 0 else None


def _ms_since(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
