"""``POST /webhooks/stripe``: verify, store in the inbox, answer. No other work in the request.

Stripe retries slow endpoints and delivers duplicates and out of order, so the request only checks
the signature and inserts the event (insert-on-conflict): the ingest job does the rest.
Everything the edge needs from the composition root is passed in (sessions, secrets, clock).
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Protocol

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlmodel import Session

from webhooks.inbox import InboxEntry, NotAnEvent, entry_from_payload, store_event
from webhooks.verify import SignatureRejected, verify_signature

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
    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


def build_router(
    sessions: Callable[[], Session],
    secrets_for: Callable[[str], Sequence[str]],
    resolve_account: Callable[[dict], str | None],
    clock: Clock,
    *,
    tolerance_seconds: int = 300,
    max_body_bytes: int = 1024 * 1024,
    stats: ReceiverStats | None = None,
    store_concurrency: int = 8,
) -> APIRouter:
    """The webhook router; ``resolve_account`` maps an event to our account id (Connect-ready).

    ``store_concurrency`` caps the inserts running at once; keep it within the database pool so
    a burst of deliveries queues here instead of opening and closing overflow connections.
    """
    router = APIRouter()
    stats = stats if stats is not None else ReceiverStats()
    store_limit = anyio.CapacityLimiter(store_concurrency)

    def store(account_id: str, entry: InboxEntry) -> bool:
        with sessions() as session:
            stored = store_event(session, account_id, entry, clock.now())
            session.commit()
            return stored

    @router.post("/webhooks/stripe")
    async def receive_stripe_event(request: Request) -> JSONResponse:
        try:
            body = await _read_body(request, max_body_bytes)
            payload = _decode_json(body)
            if not isinstance(payload, dict):
                raise Rejected(400, "not_an_event", "body is not a JSON object")
            account_id = resolve_account(payload)
            if account_id is None:
                raise Rejected(400, "unknown_account", "event is for an account we do not serve")
            verify_signature(
                body, request.headers.get("stripe-signature"), secrets_for(account_id),
                now=clock.now(), tolerance=tolerance_seconds,
            )
            entry = _envelope(payload)
        except SignatureRejected as refused:
            return _reject(stats, 400, refused.code, refused.detail)
        except Rejected as refused:
            return _reject(stats, refused.status, refused.code, refused.detail)
        stored = await anyio.to_thread.run_sync(store, account_id, entry, limiter=store_limit)
        stats.count("accepted" if stored else "duplicate")
        return JSONResponse({"received": True, "duplicate": not stored})

    return router


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise Rejected(413, "too_large", f"body exceeds {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Rejected(413, "too_large", f"body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _decode_json(body: bytes) -> object:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise Rejected(400, "not_json", "body is not valid JSON") from None


def _envelope(payload: object) -> InboxEntry:
    try:
        return entry_from_payload(payload)
    except NotAnEvent as problem:
        raise Rejected(400, "not_an_event", str(problem)) from None


def _reject(stats: ReceiverStats, status: int, code: str, detail: str) -> JSONResponse:
    stats.count(f"rejected:{code}")
    log.warning("webhook rejected", extra={"reason": code, "detail": detail, "status": status})
    return JSONResponse({"error": {"code": code, "message": detail}}, status_code=status)
