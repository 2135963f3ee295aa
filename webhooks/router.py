"""``POST /webhooks/stripe``: verify, store in the inbox, answer. No other work in the request.

Stripe retries slow endpoints and delivers duplicates and out of order, so the request only checks
the signature and inserts the event (insert-on-conflict): the ingest job does the rest.
It is served as a plain ASGI application ahead of routing (``ServeBeforeRouting``); the FastAPI
route documents it and answers the same way where the app serves it through routing.
Concurrent requests share their insert and commit (``inbox_writer``): each is answered once the
batch holding its event has committed. Everything the edge needs from the composition root is
passed in (sessions, secrets, clock). The signature is checked before any database work; bad
input is a JSON 4xx, never a 500.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Protocol

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel
from sqlmodel import Session
from starlette.requests import ClientDisconnect

from webhooks.body import BodyRejected, decode_body, needs_scrubbing, scrub_strings
from webhooks.inbox import InboxEntry, NotAnEvent, entry_from_payload
from webhooks.inbox_writer import InboxWriter, StoreFailed
from webhooks.verify import MAX_TOLERANCE_SECONDS, SignatureRejected, verify_signature

log = logging.getLogger("webhooks.receiver")


class Clock(Protocol):
    def now(self): ...


class ReceiverStats:
    """Counters of accepted, duplicate and rejected requests (by reason), thread-safe."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def count(self, outcome: str) -> None:
        with self._lock:
            self._counts[outcome] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


class Rejected(Exception):
    """A refused request: ``code`` and ``detail`` are what the caller is told, ``reason`` is
    what the log says (more than the caller may learn, for signature failures)."""

    def __init__(self, status: int, code: str, detail: str, reason: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.reason = reason or code


# One answer for every failure to authenticate (no header, bad or stale signature, no secret,
# an account we do not serve), so that a caller cannot probe which accounts exist.
NOT_AUTHENTICATED = (400, "invalid_signature", "signature verification failed")
# Compared against when an event names no account we serve, so that such a request costs the
# same HMAC work as one for a real account and cannot be told apart by its timing either.
_DECOY_SECRET = "whsec_" + secrets.token_hex(32)


class StripeWebhookEndpoint:
    """The receiver as a plain ASGI application: reads the body from ``receive`` and answers
    pre-encoded JSON, without the framework's request and response objects (a FastAPI endpoint
    cost as much again as the receiver's own work). ``create_app`` serves it before routing;
    ``build_router``'s documented route answers through the same ``respond``.

    ``resolve_account`` maps an event to our account id (Connect-ready). It and ``secrets_for``
    are called before the signature is checked, so they must answer without the database
    (``recovery.accounts`` keeps them in memory): an unsigned request does no database work.
    ``writer`` stores the events (one is made from ``sessions`` and ``clock`` if not given);
    whoever owns it stops it when the app stops.
    ``signature_clock`` judges a signature's age (default ``clock``): real elapsed time, where
    ``clock`` may run simulated time faster (the live sandbox).
    """

    def __init__(
        self,
        sessions: Callable[[], Session],
        secrets_for: Callable[[str], Sequence[str]],
        resolve_account: Callable[[dict], str | None],
        clock: Clock,
        *,
        tolerance_seconds: int = 300,
        max_body_bytes: int = 1024 * 1024,
        stats: ReceiverStats | None = None,
        writer: InboxWriter | None = None,
        signature_clock: Clock | None = None,
    ) -> None:
        if not 1 <= tolerance_seconds <= MAX_TOLERANCE_SECONDS:
            raise ValueError(f"tolerance_seconds must be 1..{MAX_TOLERANCE_SECONDS}")
        self._secrets_for, self._resolve_account = secrets_for, resolve_account
        self._tolerance, self._max_body_bytes = tolerance_seconds, max_body_bytes
        self.stats = stats if stats is not None else ReceiverStats()
        self._signature_clock = signature_clock or clock
        self._writer = writer if writer is not None else InboxWriter(sessions, clock)

    async def __call__(self, scope, receive, send) -> None:
        declared = signature = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = value.decode("latin-1")
            elif name == b"stripe-signature":
                signature = value.decode("latin-1")
        status, content = await self.respond(declared, signature, _asgi_body(receive))
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(content)).encode("latin-1"))]})
        await send({"type": "http.response.body", "body": content})

    async def respond(self, declared_length: str | None, signature: str | None,
                      chunks: AsyncIterator[bytes]) -> tuple[int, bytes]:
        """The status and JSON body that answer one delivery."""
        try:
            body = await _read_body(declared_length, chunks, self._max_body_bytes)
            payload = _decode_object(body)
            account_id = self._authenticate(body, signature, payload)
            entry = _envelope(body, payload)
        except Rejected as refused:
            return _reject(self.stats, refused)
        try:
            stored = await self._writer.store(account_id, entry)
        except StoreFailed:
            # The event is valid and verified: a non-2xx makes Stripe deliver it again later.
            return _reject(self.stats,
                           Rejected(503, "unavailable", "the event could not be stored"))
        self.stats.count("accepted" if stored else "duplicate")
        return 200, _STORED if stored else _DUPLICATE

    def _authenticate(self, body: bytes, header: str | None, payload: dict) -> str:
        """The account the verified event belongs to, or ``Rejected`` (always the same one)."""
        account_id = self._resolve_account(payload)
        known = self._secrets_for(account_id) if account_id is not None else ()
        try:
            verify_signature(body, header, known or (_DECOY_SECRET,),
                             now=self._signature_clock.now(), tolerance=self._tolerance)
        except SignatureRejected as refused:
            reason = refused.code if known else (
                "unknown_account" if account_id is None else "no_secret")
            raise Rejected(*NOT_AUTHENTICATED, reason=reason) from None
        if not known:
            raise Rejected(*NOT_AUTHENTICATED, reason="unknown_account")
        return account_id


def _answer_json(document: dict) -> bytes:
    # As JSONResponse renders it, so that both ways of serving the route answer the same bytes.
    return json.dumps(document, ensure_ascii=False, allow_nan=False, indent=None,
                      separators=(",", ":")).encode("utf-8")


_STORED = _answer_json({"received": True, "duplicate": False})
_DUPLICATE = _answer_json({"received": True, "duplicate": True})


class ReceivedOut(BaseModel):
    received: bool
    duplicate: bool  # the same Stripe event was already stored


class RejectionOut(BaseModel):
    code: str
    message: str


class RejectedOut(BaseModel):
    error: RejectionOut


_REFUSED = {"model": RejectedOut}
# The raw body is read by the endpoint itself (the signature covers its exact bytes), so the
# OpenAPI document describes it here: a Stripe event object, signed in ``Stripe-Signature``.
_STRIPE_EVENT_DOCUMENT = {
    "parameters": [{"name": "Stripe-Signature", "in": "header", "required": True,
                    "schema": {"type": "string"},
                    "description": "t=<unix time>,v1=<HMAC-SHA256 of t.body>"}],
    "requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["id", "object", "type", "data"],
        "properties": {"id": {"type": "string"}, "object": {"const": "event"},
                       "type": {"type": "string"}, "account": {"type": "string"},
                       "api_version": {"type": "string"}, "created": {"type": "integer"},
                       "data": {"type": "object"}}}}}},
}


def build_router(endpoint: StripeWebhookEndpoint) -> APIRouter:
    """The documented ``POST /webhooks/stripe`` route, answering through ``endpoint``; an app
    that serves ``endpoint`` before routing (``serve_before_routing``) never reaches it."""
    router = APIRouter()

    @router.post("/webhooks/stripe", response_model=ReceivedOut,
                 openapi_extra=_STRIPE_EVENT_DOCUMENT,
                 responses={400: {**_REFUSED, "description": "Unreadable body or bad signature"},
                            413: {**_REFUSED, "description": "Body too large"},
                            503: {**_REFUSED, "description": "Not stored: Stripe retries"}})
    async def receive_stripe_event(request: Request) -> Response:
        status, content = await endpoint.respond(request.headers.get("content-length"),
                                                 request.headers.get("stripe-signature"),
                                                 request.stream())
        return Response(content, status_code=status, media_type="application/json")

    return router


class ServeBeforeRouting:
    """ASGI middleware: ``POST`` to ``path`` goes straight to ``endpoint``; the rest to the app."""

    def __init__(self, app, *, endpoint: StripeWebhookEndpoint,
                 path: str = "/webhooks/stripe") -> None:
        self.app, self.endpoint, self.path = app, endpoint, path

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"] == self.path and scope["method"] == "POST":
            await self.endpoint(scope, receive, send)
        else:
            await self.app(scope, receive, send)


async def _asgi_body(receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


async def _read_body(declared: str | None, stream: AsyncIterator[bytes], limit: int) -> bytes:
    if declared and declared.isdigit() and int(declared) > limit:
        raise Rejected(413, "too_large", f"body exceeds {limit} bytes")
    chunks, size = [], 0
    try:
        async for chunk in stream:
            size += len(chunk)
            if size > limit:
                raise Rejected(413, "too_large", f"body exceeds {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        # Nobody will read the answer; it only has to be an answer rather than a crash.
        raise Rejected(400, "incomplete_body", "the client disconnected before the body ended") \
            from None
    return b"".join(chunks)


def _decode_object(body: bytes) -> dict:
    try:
        payload = decode_body(body)
    except BodyRejected as refused:
        raise Rejected(400, refused.code, refused.detail) from None
    if not isinstance(payload, dict):
        raise Rejected(400, "not_an_event", "body is not a JSON object")
    return payload


def _envelope(body: bytes, payload: dict) -> InboxEntry:
    """The inbox entry; the body's own text is stored when nothing in it needs replacing."""
    try:
        if needs_scrubbing(body):
            return entry_from_payload(scrub_strings(payload))
        return entry_from_payload(payload, body.decode("utf-8"))
    except NotAnEvent as problem:
        raise Rejected(400, "not_an_event", str(problem)) from None


def _reject(stats: ReceiverStats, refused: Rejected) -> tuple[int, bytes]:
    # Counted by the public code: /healthz shows these counters, and must not be an oracle.
    stats.count(f"rejected:{refused.code}")
    log.warning("webhook rejected", extra={"reason": refused.reason, "detail": refused.detail,
                                           "status": refused.status})
    return refused.status, _answer_json(
        {"error": {"code": refused.code, "message": refused.detail}})
