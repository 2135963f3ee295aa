"""The dashboard's session: a signed cookie (itsdangerous) holding the signed-in account, the
id of the API token it signed in with, and the session's CSRF token.

The cookie is signed, not encrypted: it holds nothing secret but the CSRF token, which only
needs to be out of other sites' reach (HttpOnly, SameSite). The API token itself is never kept:
each request asks whether the token id still stands for the account, so revoking the token ends
its sessions. Cookie age is judged on the wall clock, also when the sandbox runs its clock fast.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import cached_property

from itsdangerous import BadData, TimestampSigner, URLSafeTimedSerializer

from recovery.runtime.clock import Clock

COOKIE_NAME = "recovery_dashboard"
COOKIE_PATH = "/dashboard"
SALT = "recovery.dashboard.session"


@dataclass(frozen=True)
class DashboardSession:
    """``account_id`` and ``token_id`` are None until someone signs in; ``csrf_token`` is set
    from the first page, so the sign-in form is protected too."""

    csrf_token: str
    account_id: str | None = None
    token_id: int | None = None

    @classmethod
    def anonymous(cls) -> DashboardSession:
        return cls(csrf_token=secrets.token_urlsafe(32))

    @property
    def signed_in(self) -> bool:
        return self.account_id is not None and self.token_id is not None

    def signed_in_as(self, account_id: str, token_id: int) -> DashboardSession:
        """A fresh CSRF token at sign-in: one planted before it is worth nothing after."""
        return replace(self, account_id=account_id, token_id=token_id,
                       csrf_token=secrets.token_urlsafe(32))

    def accepts(self, presented: str | None) -> bool:
        return bool(presented) and hmac.compare_digest(presented.encode(),
                                                       self.csrf_token.encode())


@dataclass(frozen=True)
class CookieFlags:
    name: str
    path: str
    max_age_seconds: int
    secure: bool
    httponly: bool = True
    samesite: str = "lax"


class SessionCookies:
    """Encodes and reads the session cookie. ``secret``: a function that returns the key on
    first use (the sandbox's is generated into a file only when first needed)."""

    def __init__(self, secret: Callable[[], str], clock: Clock, *, max_age: timedelta,
                 secure: bool) -> None:
        self._secret_source = secret
        self.flags = CookieFlags(COOKIE_NAME, COOKIE_PATH, int(max_age.total_seconds()), secure)
        self._signer = _clocked_signer(clock)

    def dump(self, session: DashboardSession) -> str:
        return self._serializer.dumps(
            {"c": session.csrf_token, "a": session.account_id, "t": session.token_id})

    def load(self, cookie: str | None) -> DashboardSession | None:
        """The session in a genuine, unexpired cookie; None otherwise."""
        if not cookie:
            return None
        try:
            content = self._serializer.loads(cookie, max_age=self.flags.max_age_seconds)
        except BadData:
            return None
        if not (isinstance(content, dict) and isinstance(content.get("c"), str)):
            return None
        account_id, token_id = content.get("a"), content.get("t")
        if not (isinstance(account_id, str) and isinstance(token_id, int)):
            account_id, token_id = None, None
        return DashboardSession(content["c"], account_id, token_id)

    @cached_property
    def _serializer(self) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self._secret_source(), salt=SALT, signer=self._signer,
                                      signer_kwargs={"digest_method": hashlib.sha256})


def _clocked_signer(clock: Clock) -> type[TimestampSigner]:
    class ClockedTimestampSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(clock.now().timestamp())

    return ClockedTimestampSigner
