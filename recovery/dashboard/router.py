"""``/dashboard``: the router the app mounts, with the dashboard's own static files.

Assets come from the installed packages, never from the internet: the CSS and the page script
from this package, plotly.js from the ``plotly`` package's bundled copy (the same version that
builds the figures).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse

from recovery.dashboard.access import DashboardAccess
from recovery.dashboard.login_session import SessionCookies
from recovery.dashboard.pages import cases, experiments, login, overview, policies, sandbox
from recovery.dashboard.rendering import PREFIX, Pages, build_templates, page_route_class
from recovery.errors import NotFound
from recovery.runtime.clock import wall_clock
from recovery.wiring import Services

STATIC = Path(__file__).parent / "static"
# Each served name and where it is; nothing else is served (no path ever reaches the disk).
STATIC_FILES: dict[str, tuple[Callable[[], Path], str]] = {
    "dashboard.css": (lambda: STATIC / "dashboard.css", "text/css"),
    "dashboard.js": (lambda: STATIC / "dashboard.js", "text/javascript"),
    "plotly.min.js": (lambda: Path(str(files("plotly") / "package_data" / "plotly.min.js")),
                      "text/javascript"),
}
STATIC_MAX_AGE_SECONDS = 3600


def build_dashboard_router(services: Services,
                           sandbox_state: Callable[[], Mapping[str, Any]] | None = None
                           ) -> APIRouter:
    """``sandbox_state``: what the live sandbox shows about itself (virtual time, counts), when
    the app runs one; the sandbox page is shown only then."""
    access = DashboardAccess(services.sessions, _cookies(services))
    pages = Pages(build_templates(), access, sandbox_state)
    router = APIRouter(prefix=PREFIX, include_in_schema=False,
                       route_class=page_route_class(pages))
    login.add_routes(router, pages, services)
    overview.add_routes(router, pages, services)
    cases.add_routes(router, pages, services)
    policies.add_routes(router, pages, services)
    experiments.add_routes(router, pages, services)
    sandbox.add_routes(router, pages, sandbox_state)
    _add_static_routes(router)
    return router


def _cookies(services: Services) -> SessionCookies | None:
    settings = services.settings
    if services.session_secret is None:
        return None
    return SessionCookies(services.session_secret, wall_clock(services.clock),
                          max_age=timedelta(hours=settings.session_max_age_hours),
                          secure=settings.public_base_url.startswith("https://"))


def _add_static_routes(router: APIRouter) -> None:
    @router.get("/static/{name}")
    def static_file(name: str) -> FileResponse:
        if name not in STATIC_FILES:
            raise NotFound(f"no dashboard file {name}")
        where, media_type = STATIC_FILES[name]
        return FileResponse(where(), media_type=media_type, headers={
            "Cache-Control": f"public, max-age={STATIC_MAX_AGE_SECONDS}",
            "X-Content-Type-Options": "nosniff"})
