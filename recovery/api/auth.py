"""Who is calling the API: a bearer token becomes the ``Caller`` every query is scoped by.

Routes declare what they need with ``Depends(require_read)`` or ``Depends(require_write)`` and
read ``caller.account_id``; nothing else in a route decides whose data it sees. The bearer scheme
is declared so the OpenAPI document says how to authenticate.

``require_operator`` guards what comes before any account's token exists (connecting accounts):
the bearer must be the configured ``RECOVERY_OPERATOR_TOKEN``. With none configured those routes
answer 404, as if absent: a deployment that did not ask for them exposes nothing.
"""

from __future__ import annotations

import hmac

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from recovery.accounts.tokens import Caller, authenticate
from recovery.errors import NotAuthenticated, NotFound, ScopeMissing

bearer = HTTPBearer(auto_error=False, description="An account's API token: `rcv_...`")
operator_bearer = HTTPBearer(auto_error=False, scheme_name="OperatorToken",
                             description="The operator token: RECOVERY_OPERATOR_TOKEN")
OPERATOR = "operator"


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


def require_operator(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(
        operator_bearer)) -> str:
    """The operator (as the audit trail names it), or 404 without an operator token configured,
    401 for any other bearer."""
    configured = request.app.state.services.settings.operator_token
    if configured is None:
        raise NotFound("Not Found")
    presented = credentials.credentials if credentials is not None else ""
    if not hmac.compare_digest(presented.encode(), configured.get_secret_value().encode()):
        raise NotAuthenticated("the operator token is needed: Authorization: Bearer "
                               "<RECOVERY_OPERATOR_TOKEN>")
    return OPERATOR
