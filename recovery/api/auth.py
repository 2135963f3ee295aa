"""Who is calling the API: a bearer token becomes the ``Caller`` every query is scoped by.

Routes declare what they need with ``Depends(require_read)`` or ``Depends(require_write)`` and
read ``caller.account_id``; nothing else in a route decides whose data it sees. The bearer scheme
is declared so the OpenAPI document says how to authenticate.
"""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from recovery.accounts.tokens import Caller, authenticate
from recovery.errors import NotAuthenticated, ScopeMissing

bearer = HTTPBearer(auto_error=False, description="An account's API token: `rcv_...`")


def current_caller(request: Request,
                   credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Caller:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise NotAuthenticated("an API token is needed: Authorization: Bearer rcv_...")
    caller = authenticate(request.app.state.services.sessions, credentials.credentials)
    if caller is None:
        raise NotAuthenticated("the API token is unknown or revoked")
    return caller


def _requiring(scope: str):
    def dependency(caller: Caller = Depends(current_caller)) -> Caller:
        if scope not in caller.scopes:
            raise ScopeMissing(f"this request needs a token with the {scope!r} scope")
        return caller

    dependency.__name__ = f"require_{scope}"
    return dependency


require_read = _requiring("read")
require_write = _requiring("write")
