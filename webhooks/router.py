"""``POST /webhooks/stripe``: verify, store in the inbox, answer. No other work in the request.

Stripe retries slow endpoints and delivers duplicates and out of order, so the request only checks
the signature and inserts the event (insert-on-conflict): the ingest job does the rest.
Concurrent requests share their insert and commit (``inbox_writer``): each is answered once the
batch holding its event has committed. Everything the edge needs from the composition root is
passed in (sessions, secrets, clock). The signature is checked before any database work; bad
input is a JSON 4xx, never a 500.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Protocol

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
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


def build_router(
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
) -> APIRouter:
    """The webhook router; ``resolve_account`` maps an event to our account id (Connect-ready).

    ``resolve_account`` and ``secrets_for`` are called before the signature is checked, so they
    must answer without the database (``recovery.accounts`` keeps them in memory): an unsigned
    request does no database work at all.
    ``writer`` stores the events (one is made from ``sessions`` and ``clock`` if not given);
    whoever owns it stops it when the app stops.
    ``signature_clock`` judges a signature's age (default ``clock``): real elapsed time, where
    ``clock`` may run simulated time faster (the live sandbox).
    """
    if not 1 <= tolerance_seconds <= MAX_TOLERANCE_SECONDS:
        raise ValueError(f"tolerance_seconds must be 1..{MAX_TOLERANCE_SECONDS}")
    router = APIRouter()
    stats = stats if stats is not None else ReceiverStats()
    signature_clock = signature_clock or clock
    writer = writer if writer is not None else InboxWriter(sessions, clock)

    def authenticate(body: bytes, header: str | None, payload: dict) -> str:
        """The account the verified event belongs to, or ``Rejected`` (always the same one)."""
        account_id = resolve_account(payload)
        known = secrets_for(account_id) if account_id is not None else ()
        try:
            verify_signature(body, header, known or (_DECOY_SECRET,),
                             now=signature_clock.now(), tolerance=tolerance_seconds)
        except SignatureRejected as refused:
            reason = refused.code if known else (
                "unknown_account" if account_id is None else "no_secret")
            raise Rejected(*NOT_AUTHENTICATED, reason=reason) from None
        if not known:
            raise Rejected(*NOT_AUTHENTICATED, reason="unknown_account")
        return account_id

    @router.post("/webhooks/stripe")
    async def receive_stripe_event(request: Request) -> JSONResponse:
        try:
            body = await _read_body(request, max_body_bytes)
            payload = _decode_object(body)
            account_id = authenticate(body, request.headers.get("stripe-signature"), payload)
            entry = _envelope(body, payload)
        except Rejected as refused:
            return _reject(stats, refused)
        try:
            stored = await writer.store(account_id, entry)
        except StoreFailed:
            # The event is valid and verified: a non-2xx makes Stripe deliver it again later.
            return _reject(stats, Rejected(503, "unavailable", "the event could not be stored"))
        stats.count("accepted" if stored else "duplicate")
        return JSONResponse({"received": True, "duplicate": not stored})

    return router


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise Rejected(413, "too_large", f"body exceeds {limit} bytes")
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
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


def _reject(stats: ReceiverStats, refused: Rejected) -> JSONResponse:
    # Counted by the public code: /healthz shows these counters, and must not be an oracle.
    stats.count(f"rejected:{refused.code}")
    log.warning("webhook rejected", extra={"reason": refused.reason, "detail": refused.detail,
                                           "status": refused.status})
    return JSONResponse({"error": {"code": refused.code, "message": refused.detail}},
                        status_code=refused.status)
