"""The HTTP edge of the fake Stripe: form decoding, a regex router, idempotent replay, and the
in-process httpx transport. It knows no Stripe object; handlers get decoded params and return JSON.

Stripe's form encoding nests with brackets (``invoice_settings[default_payment_method]=pm_1``,
``expand[0]=latest_charge``); ``decode_form`` turns that back into dicts and lists of strings.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl

import httpx

from recovery.runtime.clock import Clock
from recovery.sandbox.fake_stripe.errors import (
    StripeApiError,
    idempotency_conflict,
    unauthenticated,
    unknown_route,
)
from recovery.sandbox.fake_stripe.events import API_VERSION

# Stripe may forget a key after 24 hours (https://docs.stripe.com/api/idempotent_requests).
IDEMPOTENCY_WINDOW = timedelta(hours=24)
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class ApiRequest:
    method: str
    path: str
    params: dict[str, Any]
    idempotency_key: str | None
    request_id: str

    @property
    def origin(self) -> tuple[str | None, str | None]:
        """What an event caused by this request names in its ``request`` field."""
        return self.request_id, self.idempotency_key


@dataclass(frozen=True)
class ApiResponse:
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...]


Handler = Callable[..., dict[str, Any]]


def decode_form(text: str) -> dict[str, Any]:
    """Nested params from ``a[b][0]=v`` pairs; a dict whose keys are all indexes is a list."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        head, *rest = key.split("[")
        parts = [head, *(part.rstrip("]") for part in rest)]
        node = root
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = value
    return _listify(root)


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    if node and all(key.isdigit() for key in node):
        return [_listify(node[key]) for key in sorted(node, key=int)]
    return {key: _listify(value) for key, value in node.items()}


class Router:
    """``METHOD /path/{id}`` patterns to handlers: exact paths by dict, the rest by regex."""

    def __init__(self) -> None:
        self._exact: dict[tuple[str, str], tuple[str, Handler]] = {}
        self._patterns: dict[str, list[tuple[re.Pattern[str], str, Handler]]] = {}

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        name = f"{method} {pattern}"
        if "{" not in pattern:
            self._exact[(method, pattern)] = (name, handler)
            return
        regex = re.compile("^" + _PLACEHOLDER.sub(r"(?P<\1>[^/]+)", pattern) + "$")
        self._patterns.setdefault(method, []).append((regex, name, handler))

    def match(self, method: str, path: str) -> tuple[str, Handler, dict[str, str]] | None:
        exact = self._exact.get((method, path))
        if exact is not None:
            return exact[0], exact[1], {}
        for regex, name, handler in self._patterns.get(method, ()):
            found = regex.match(path)
            if found is not None:
                return name, handler, found.groupdict()
        return None


class IdempotencyStore:
    """Saved responses of POSTs by key: a replay returns the saved response without running the
    handler again; the same key with another request is refused with ``idempotency_error``."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._saved: OrderedDict[str, tuple[Any, tuple[str, ...], ApiResponse]] = OrderedDict()

    def lookup(self, key: str, fingerprint: tuple[str, ...]) -> ApiResponse | None:
        saved = self._saved.get(key)
        if saved is None:
            return None
        if saved[1] != fingerprint:
            raise idempotency_conflict(key)
        return saved[2]

    def save(self, key: str, fingerprint: tuple[str, ...], response: ApiResponse) -> None:
        now = self._clock.now()
        self._saved[key] = (now, fingerprint, response)
        while self._saved:
            oldest_key, (saved_at, _, _) = next(iter(self._saved.items()))
            if now - saved_at < IDEMPOTENCY_WINDOW:
                break
            del self._saved[oldest_key]


class RestFront:
    """Runs one API request: decode, route, replay or execute under the state lock, count, and
    afterwards call ``after`` (the fake delivers its queued webhooks there, outside the lock)."""

    def __init__(self, router: Router, lock: threading.RLock, clock: Clock,
                 new_request_id: Callable[[], str], after: Callable[[], None]) -> None:
        self._router = router
        self._lock = lock
        self._new_request_id = new_request_id
        self._after = after
        self._idempotency = IdempotencyStore(clock)
        self.calls: Counter[str] = Counter()

    def handle(self, method: str, path: str, query: str, body: bytes,
               headers: Mapping[str, str]) -> ApiResponse:
        with self._lock:
            response = self._handle_locked(method.upper(), path, query, body, headers)
        self._after()
        return response

    def _handle_locked(self, method: str, path: str, query: str, body: bytes,
                       headers: Mapping[str, str]) -> ApiResponse:
        request_id = self._new_request_id()
        matched = self._router.match(method, path)
        self.calls[matched[0] if matched else f"{method} <unknown>"] += 1
        key = headers.get("idempotency-key") if method == "POST" else None
        form = body.decode() if body else ""
        fingerprint = (method, path, query, form)
        try:
            handler, groups = _admit(matched, method, path, headers)
            if key and (saved := self._idempotency.lookup(key, fingerprint)) is not None:
                return _replayed(saved)
        except StripeApiError as err:
            # Refused before the endpoint ran: Stripe saves nothing under the key then.
            return _respond(err.status, err.body(), request_id, key)
        params = decode_form(f"{query}&{form}" if query and form else query or form)
        request = ApiRequest(method, path, params, key, request_id)
        try:
            response = _respond(200, handler(request, **groups), request_id, key)
        except StripeApiError as err:
            response = _respond(err.status, err.body(), request_id, key)
        if key:
            self._idempotency.save(key, fingerprint, response)
        return response


def _admit(matched: tuple[str, Handler, dict[str, str]] | None, method: str, path: str,
           headers: Mapping[str, str]) -> tuple[Handler, dict[str, str]]:
    if not headers.get("authorization", "").startswith("Bearer "):
        raise unauthenticated()
    if matched is None:
        raise unknown_route(method, path)
    return matched[1], matched[2]


def _respond(status: int, payload: dict[str, Any], request_id: str,
             key: str | None) -> ApiResponse:
    headers = [("content-type", "application/json"), ("request-id", request_id),
               ("stripe-version", API_VERSION)]
    if key:
        headers.append(("idempotency-key", key))
    return ApiResponse(status, json.dumps(payload, separators=(",", ":")).encode(),
                       tuple(headers))


def _replayed(saved: ApiResponse) -> ApiResponse:
    return ApiResponse(saved.status, saved.body, (*saved.headers, ("idempotent-replayed", "true")))


class FakeStripeTransport(httpx.BaseTransport):
    """An httpx transport that answers from the fake in the calling thread (no sockets)."""

    def __init__(self, front: RestFront) -> None:
        self._front = front

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        answer = self._front.handle(request.method, request.url.path,
                                    request.url.query.decode(), body, request.headers)
        return httpx.Response(answer.status, headers=list(answer.headers), content=answer.body,
                              request=request)
