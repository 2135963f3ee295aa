"""The live sandbox's state when the engine runs offline: its virtual time, how fast it runs,
and what its simulated Stripe has done so far. Shown only when the app runs a sandbox."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from recovery.dashboard.rendering import Pages
from recovery.errors import NotFound


def add_routes(router: APIRouter, pages: Pages,
               sandbox_state: Callable[[], Mapping[str, Any]] | None) -> None:
    @router.get("/sandbox")
    def sandbox_page(request: Request) -> Response:
        pages.access.signed_in(request)
        if sandbox_state is None:
            raise NotFound("no sandbox runs here: this engine talks to Stripe")
        return pages.render(request, "sandbox.html", {"nav": "sandbox",
                                                      "state": dict(sandbox_state())})
