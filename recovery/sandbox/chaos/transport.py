"""An httpx transport that makes Stripe calls fail the way networks and Stripe do, on a seeded plan.

``ChaoticTransport`` wraps the transport that reaches the fake Stripe (in process, or over
loopback) and, per request, may answer 429 or 500 without passing the request on, fail to connect,
or pass it on and then lose the answer (500 in its place, a read timeout, a dropped connection).
On invoice pay calls it may also kill the worker process, before the request is sent or after
the answer arrived. The engine's gateway sees these exactly as it would see Stripe's.

Each decision is a keyed draw on (method, path, idempotency key, how many times this process has
sent that key, the process's ``incarnation``): a retry of the same key is a new draw, and a worker
restarted with a new incarnation does not die again at the very same point. After a fault that
came after the request ran, a retry with the same key gets the fake's saved answer (Stripe's
idempotency replay), so the charge is made once. (Real Stripe would replay a 5xx too; the engine
takes a new key after any 5xx, so that harsher path is exercised either way.)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import threading
from collections import Counter
from collections.abc import Callable

import httpx

from recovery.sandbox.chaos.plan import ChaosPlan
from recovery.sandbox.fake_stripe.errors import StripeApiError, rate_limited, server_error
from recovery.sandbox.fake_stripe.events import API_VERSION

PAY_PATH = re.compile(r"^/v1/invoices/[^/]+/pay$")


def sigkill_self() -> None:
    """Die at once, as a crash or an OOM kill does: no cleanup, no commit, no answer."""
    os.kill(os.getpid(), signal.SIGKILL)


def is_pay_call(method: str, path: str) -> bool:
    return method.upper() == "POST" and PAY_PATH.match(path) is not None


def planned_fault(plan: ChaosPlan, method: str, path: str, key: str, *,
                  incarnation: str | int = 0, seen: int = 0) -> str | None:
    """The fault (a ``plan.fault_shares`` name) that the ``seen``-th send of ``key`` by a process
    of this ``incarnation`` meets, or None. Requests without an idempotency key are keyed by
    their content."""
    u = plan.draw("api", method.upper(), path, key, incarnation, seen)
    return plan.pick_fault(u, pay=is_pay_call(method, path))


class ChaoticTransport(httpx.BaseTransport):
    """See the module docstring. ``kill`` is called at a kill point (default: SIGKILL to this
    process); a hook that returns lets the call go on as if nothing happened. ``counts``:
    requests, pay requests and faults, by kind; a kill point is counted just before the kill, so
    those counts die with the process and the driver tells kills from exit statuses."""

    def __init__(self, inner: httpx.BaseTransport, plan: ChaosPlan, *,
                 kill: Callable[[], None] | None = None, incarnation: str | int = 0) -> None:
        self._inner = inner
        self._plan = plan
        self._kill = kill or sigkill_self
        self._incarnation = incarnation
        self._seen: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        fault = self._fault_for(request)
        if fault == "kill_before_charge":
            self._kill()
        elif fault in ("rate_limited", "server_error_before"):
            error = rate_limited() if fault == "rate_limited" else server_error()
            return _error_response(request, error, self._request_id(request))
        elif fault == "reset_before":
            raise httpx.ConnectError("connection reset before the request was sent",
                                     request=request)
        response = self._inner.handle_request(request)
        if fault in ("server_error_after", "timeout_after", "reset_after", "kill_after_charge"):
            response.read()  # the request ran; its answer is lost
            response.close()
        if fault == "server_error_after":
            return _error_response(request, server_error(), self._request_id(request))
        if fault == "timeout_after":
            raise httpx.ReadTimeout("timed out reading the answer", request=request)
        if fault == "reset_after":
            raise httpx.RemoteProtocolError(
                "server disconnected without sending a complete answer", request=request)
        if fault == "kill_after_charge":
            self._kill()
        return response

    def close(self) -> None:
        self._inner.close()

    def _fault_for(self, request: httpx.Request) -> str | None:
        key = request.headers.get("idempotency-key") or _content_key(request)
        pay = is_pay_call(request.method, request.url.path)
        with self._lock:
            seen = self._seen[key]
            self._seen[key] += 1
            fault = planned_fault(self._plan, request.method, request.url.path, key,
                                  incarnation=self._incarnation, seen=seen)
            self.counts["requests"] += 1
            if pay:
                self.counts["pay_requests"] += 1
            if fault is not None:
                self.counts[fault] += 1
            return fault

    def _request_id(self, request: httpx.Request) -> str:
        digest = hashlib.blake2b(f"{self._plan.seed}|{self.counts['requests']}|{request.url}"
                                 .encode(), digest_size=7).hexdigest()
        return f"req_chaos{digest}"


def _content_key(request: httpx.Request) -> str:
    """What identifies a request sent without an idempotency key (GETs): its whole content."""
    text = f"{request.method} {request.url.path}?{request.url.query.decode()}"
    body = request.read()
    return "content_" + hashlib.blake2b(text.encode() + b"\n" + body,
                                        digest_size=12).hexdigest()


def _error_response(request: httpx.Request, error: StripeApiError,
                    request_id: str) -> httpx.Response:
    """Stripe's error answer, with the headers the fake's own errors carry."""
    headers = [("content-type", "application/json"), ("request-id", request_id),
               ("stripe-version", API_VERSION)]
    key = request.headers.get("idempotency-key")
    if key:
        headers.append(("idempotency-key", key))
    body = json.dumps(error.body(), separators=(",", ":")).encode()
    return httpx.Response(error.status, headers=headers, content=body, request=request)
