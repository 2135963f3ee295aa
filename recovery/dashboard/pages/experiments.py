"""Experiments: A/B tests between two policy versions, and how each arm does so far.

Experiments are not kept by this version of the engine yet: the page says so, and lists them
once they are.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from recovery.dashboard.rendering import Pages
from recovery.wiring import Services


def add_routes(router: APIRouter, pages: Pages, services: Services) -> None:
    @router.get("/experiments")
    def experiments_page(request: Request) -> Response:
        pages.access.signed_in(request)
        return pages.render(request, "experiments.html", {"nav": "experiments",
                                                          "experiments": None})
