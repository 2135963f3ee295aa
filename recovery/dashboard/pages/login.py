"""Signing in with an account's API token, and signing out.

A token that is unknown or revoked is refused on the page (401) and nothing is remembered; a
good one starts a session with a fresh CSRF token.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from recovery.accounts.tokens import authenticate
from recovery.dashboard.login_session import DashboardSession
from recovery.dashboard.rendering import PREFIX, Pages
from recovery.wiring import Services


def add_routes(router: APIRouter, pages: Pages, services: Services) -> None:
    access = pages.access

    @router.get("/login")
    def login_page(request: Request) -> Response:
        if access.visitor(request).caller is not None:
            return RedirectResponse(f"{PREFIX}/", status_code=303)
        return pages.render(request, "login.html")

    @router.post("/login")
    async def sign_in(request: Request) -> Response:
        posted = await access.posted(request, signed_in=False)
        caller = authenticate(services.sessions, posted.field("token").strip())
        if caller is None:
            return pages.render(request, "login.html",
                                {"problem": "That token is unknown or has been revoked."},
                                status_code=401)
        session = posted.visitor.session.signed_in_as(caller.account_id, caller.token_id)
        response = RedirectResponse(f"{PREFIX}/", status_code=303)
        access.write_cookie(response, session)
        return response

    @router.post("/logout")
    async def sign_out(request: Request) -> Response:
        await access.posted(request, signed_in=False)
        response = RedirectResponse(f"{PREFIX}/login", status_code=303)
        access.write_cookie(response, DashboardSession.anonymous())
        return response
