"""Stripe's account and webhook-endpoint API, faked at the HTTP edge (respx) for the tests of
connecting accounts: it answers as the key (and ``Stripe-Account``) of each request allow."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import httpx

API = "https://api.stripe.com"
PLATFORM_KEY = "sk_test_engine_tests"  # the tests' settings key (tests/conftest.py)
PLATFORM_ACCOUNT = "acct_1Platform000"


@dataclass
class Endpoint:
    id: str
    url: str
    enabled_events: list[str]
    api_version: str | None
    connect: bool
    owner: str  # the Stripe account it was registered on
    secret: str
    deleted: bool = False


@dataclass
class FakeStripeAccounts:
    """``keys``: API key → the Stripe account it belongs to; ``connected``: accounts connected
    to the platform (reachable with ``PLATFORM_KEY`` and ``Stripe-Account``)."""

    keys: dict[str, str] = field(default_factory=dict)
    connected: set[str] = field(default_factory=set)
    endpoints: dict[str, Endpoint] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)
    router: object = None  # the respx router it is installed on

    def install(self, router) -> None:
        self.router = router
        self.account_route = router.get(f"{API}/v1/account").mock(side_effect=self._account)
        self.create_route = router.post(f"{API}/v1/webhook_endpoints").mock(
            side_effect=self._create)
        self.delete_route = router.delete(
            url__regex=rf"{API}/v1/webhook_endpoints/(?P<endpoint_id>\w+)").mock(
            side_effect=self._delete)

    def live(self) -> list[Endpoint]:
        return [endpoint for endpoint in self.endpoints.values() if not endpoint.deleted]

    def _owner(self, request: httpx.Request) -> tuple[str | None, httpx.Response | None]:
        self.requests.append(request)
        key = request.headers.get("Authorization", "").removeprefix("Bearer ")
        acting_as = request.headers.get("Stripe-Account")
        if key == PLATFORM_KEY:
            if acting_as is None:
                return PLATFORM_ACCOUNT, None
            if acting_as in self.connected:
                return acting_as, None
            return None, error(403, "permission_error", None,
                               "The provided key does not have access to account "
                               f"'{acting_as}' (or that account does not exist).")
        if key in self.keys and acting_as is None:
            return self.keys[key], None
        return None, error(401, "invalid_request_error", "api_key_invalid",
                           f"Invalid API Key provided: {key[:8]}{'*' * 8}{key[-4:]}")

    def _account(self, request: httpx.Request) -> httpx.Response:
        owner, refused = self._owner(request)
        if refused is not None:
            return refused
        return httpx.Response(200, json={
            "id": owner, "object": "account", "country": "FR",
            "settings": {"dashboard": {"display_name": f"Shop {owner[-4:]}"}}})

    def _create(self, request: httpx.Request) -> httpx.Response:
        owner, refused = self._owner(request)
        if refused is not None:
            return refused
        form = parse_qs(request.content.decode())
        events = [form[name][0] for name in sorted(
            (name for name in form if re.fullmatch(r"enabled_events\[\d+\]", name)),
            key=lambda name: int(name[15:-1]))]
        endpoint = Endpoint(id=f"we_{secrets.token_hex(6)}", url=form["url"][0],
                            enabled_events=events, api_version=form.get("api_version", [None])[0],
                            connect=form.get("connect") == ["true"], owner=owner,
                            secret=f"whsec_{secrets.token_hex(16)}")
        self.endpoints[endpoint.id] = endpoint
        return httpx.Response(200, json={
            "id": endpoint.id, "object": "webhook_endpoint", "url": endpoint.url,
            "enabled_events": events, "api_version": endpoint.api_version,
            "livemode": False, "secret": endpoint.secret, "status": "enabled"})

    def _delete(self, request: httpx.Request, endpoint_id: str) -> httpx.Response:
        owner, refused = self._owner(request)
        if refused is not None:
            return refused
        endpoint = self.endpoints.get(endpoint_id)
        if endpoint is None or endpoint.deleted or endpoint.owner != owner:
            return error(404, "invalid_request_error", "resource_missing",
                         f"No such webhook endpoint: '{endpoint_id}'")
        endpoint.deleted = True
        return httpx.Response(200, json={"id": endpoint_id, "object": "webhook_endpoint",
                                         "deleted": True})


def error(status: int, kind: str, code: str | None, message: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"type": kind, "code": code,
                                                  "message": message}})
