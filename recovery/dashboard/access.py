"""Who is looking at a dashboard page, and whether a form they post may be trusted.

Every request reads the session cookie; a signed-in session is checked against the token it
signed in with (revoked: signed out). Every POST carries the session's CSRF token in its
``csrf_token`` field, checked before anything else is read; a change also needs the token's
``write`` scope, like the API's.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request, Response
from starlette.datastructures import FormData

from recovery.accounts.tokens import Caller, caller_of_token
from recovery.dashboard.login_session import DashboardSession, SessionCookies
from recovery.errors import ConfigurationError, FormRejected, NotAuthenticated, ScopeMissing
from recovery.runtime.db import SessionFactory

CSRF_FIELD = "csrf_token"
NO_SECRET = ("the dashboard needs a session secret to sign anyone in: set "
             "RECOVERY_SESSION_SECRET (at least 32 characters, the same on every process)")


@dataclass(frozen=True)
class Visitor:
    session: DashboardSession
    caller: Caller | None  # None until signed in
    cookie_stale: bool  # the response must (re)write the cookie

    @property
    def account_id(self) -> str:
        if self.caller is None:
            raise NotAuthenticated("sign in with an API token")
        return self.caller.account_id

    @property
    def can_write(self) -> bool:
        return self.caller is not None and "write" in self.caller.scopes


@dataclass(frozen=True)
class Posted:
    """A form whose CSRF token matched its session's."""

    visitor: Visitor
    form: FormData

    def field(self, name: str, default: str = "") -> str:
        value = self.form.get(name, default)
        return value if isinstance(value, str) else default


class DashboardAccess:
    def __init__(self, sessions: SessionFactory, cookies: SessionCookies | None) -> None:
        self.sessions = sessions
        self.cookies = cookies

    def visitor(self, request: Request) -> Visitor:
        """Read once per request (kept on the request): the session, and who it stands for."""
        known = getattr(request.state, "dashboard_visitor", None)
        if known is not None:
            return known
        if self.cookies is None:
            raise ConfigurationError(NO_SECRET)
        session = self.cookies.load(request.cookies.get(self.cookies.flags.name))
        visitor = self._checked(session)
        request.state.dashboard_visitor = visitor
        return visitor

    def _checked(self, session: DashboardSession | None) -> Visitor:
        if session is None:
            return Visitor(DashboardSession.anonymous(), None, cookie_stale=True)
        if not session.signed_in:
            return Visitor(session, None, cookie_stale=False)
        caller = caller_of_token(self.sessions, session.token_id)
        if caller is None or caller.account_id != session.account_id:
            # The token was revoked (or is gone) since sign-in: the session ends with it.
            return Visitor(DashboardSession.anonymous(), None, cookie_stale=True)
        return Visitor(session, caller, cookie_stale=False)

    def signed_in(self, request: Request) -> Visitor:
        visitor = self.visitor(request)
        if visitor.caller is None:
            raise NotAuthenticated("sign in with an API token")
        return visitor

    async def posted(self, request: Request, *, signed_in: bool = True,
                     write: bool = True) -> Posted:
        """The form, once its CSRF token is the session's (``FormRejected`` otherwise)."""
        visitor = self.visitor(request)
        form = await request.form()
        if not visitor.session.accepts(_text(form.get(CSRF_FIELD))):
            raise FormRejected("this form is out of date or came from another site: reload the "
                               "page and send it again")
        if signed_in and visitor.caller is None:
            raise NotAuthenticated("sign in with an API token")
        if signed_in and write:
            require_write(visitor)
        return Posted(visitor, form)

    def write_cookie(self, response: Response, session: DashboardSession) -> None:
        flags = self.cookies.flags
        response.set_cookie(flags.name, self.cookies.dump(session), max_age=flags.max_age_seconds,
                            path=flags.path, secure=flags.secure, httponly=flags.httponly,
                            samesite=flags.samesite)


def require_write(visitor: Visitor) -> None:
    if not visitor.can_write:
        raise ScopeMissing("this change needs a token with the 'write' scope")


def _text(value) -> str | None:
    return value if isinstance(value, str) else None
