"""Turning a page's data into HTML: the Jinja2 templates with the dashboard's filters, the
headers every page carries, and error pages in place of the API's JSON errors.

Errors map to status codes through ``recovery.api.errors.status_for``, the one place the error
tree becomes HTTP; a page that needs a signed-in visitor sends the others to the sign-in page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from babel.numbers import format_currency, get_currency_precision
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates

from recovery.api.errors import status_for
from recovery.dashboard.access import CSRF_FIELD, DashboardAccess
from recovery.errors import NotAuthenticated, RecoveryError

log = logging.getLogger("recovery.dashboard")
PREFIX = "/dashboard"
TEMPLATES = Path(__file__).parent / "templates"
# Scripts only from the dashboard itself (plotly.js included); plotly adds its own <style>
# elements, hence inline styles.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' "
                               "'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def money(amount: int | None, currency: str | None) -> str:
    """Minor units in the currency's own precision: 1999 usd -> $19.99, 1999 jpy -> ¥1,999."""
    if amount is None or not currency:
        return "-"
    code = currency.upper()
    return format_currency(amount / 10 ** get_currency_precision(code), code, locale="en")


def percent(share: float | None, digits: int = 1) -> str:
    return "-" if share is None else f"{share:.{digits}%}"


def when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "-"


def build_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES))
    templates.env.filters.update(money=money, percent=percent, when=when)
    templates.env.globals.update(prefix=PREFIX, csrf_field=CSRF_FIELD)
    return templates


class Pages:
    """Renders a page for the visitor, writing their session cookie when it is new."""

    def __init__(self, templates: Jinja2Templates, access: DashboardAccess,
                 sandbox_state: Callable[[], Mapping[str, Any]] | None) -> None:
        self.templates = templates
        self.access = access
        self.has_sandbox = sandbox_state is not None

    def render(self, request: Request, name: str, context: Mapping[str, Any] | None = None,
               *, status_code: int = 200) -> HTMLResponse:
        visitor = self.access.visitor(request)
        page = {"visitor": visitor, "csrf_token": visitor.session.csrf_token,
                "has_sandbox": self.has_sandbox, **(context or {})}
        response = self.templates.TemplateResponse(request, name, page, status_code=status_code,
                                                   headers=SECURITY_HEADERS)
        if visitor.cookie_stale:
            self.access.write_cookie(response, visitor.session)
        return response

    def error(self, request: Request, error: Exception) -> Response:
        if isinstance(error, NotAuthenticated) and request.method == "GET":
            return RedirectResponse(f"{PREFIX}/login", status_code=303)
        if isinstance(error, RequestValidationError):
            status, message = 422, _first_problem(error)
        else:
            status, message = status_for(error), str(error)
        if status >= 500:
            log.error("dashboard page failed", extra={"error": f"{type(error).__name__}: "
                                                               f"{error}"})
        try:
            return self.render(request, "error.html", {"status": status, "message": message},
                               status_code=status)
        except RecoveryError:  # no session secret: nothing can be rendered for a visitor
            return HTMLResponse(message, status_code=status, headers=SECURITY_HEADERS)


def page_route_class(pages: Pages) -> type[APIRoute]:
    """Routes whose errors become HTML pages (the app's handlers answer JSON)."""

    class PageRoute(APIRoute):
        def get_route_handler(self) -> Callable:
            handler = super().get_route_handler()

            async def page_handler(request: Request) -> Response:
                try:
                    return await handler(request)
                except (RecoveryError, RequestValidationError) as error:
                    return pages.error(request, error)

            return page_handler

    return PageRoute


def _first_problem(error: RequestValidationError) -> str:
    problems = error.errors()
    if not problems:
        return "the request is invalid"
    first = problems[0]
    where = ".".join(str(part) for part in first.get("loc", ()))
    return f"{where}: {first.get('msg', 'invalid')}"
