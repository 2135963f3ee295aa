"""Per-account API tokens: made (shown once), checked on every request, revoked.

A token is ``rcv_`` and 43 url-safe characters (256 random bits). Only its SHA-256 digest is kept:
with that much randomness a slow password hash would add nothing, and a lookup by digest stays one
indexed read. Scopes are ``read`` (the reports and lists) and ``write`` (policies, experiments,
endpoints); ``write`` does not imply ``read``, so a token asks for what it needs.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from sqlmodel import select

from models import Account, ApiToken
from recovery.accounts.audit import record_change
from recovery.errors import NotFound, PolicyError
from recovery.runtime.clock import Clock
from recovery.runtime.db import SessionFactory, transaction

TOKEN_PREFIX = "rcv_"
SCOPES = ("read", "write")


@dataclass(frozen=True)
class Caller:
    """Who is asking: the account every query is scoped to, and what the token may do."""

    account_id: str
    token_id: int | None
    scopes: frozenset[str]

    @property
    def actor(self) -> str:
        return f"token:{self.token_id}"


@dataclass(frozen=True)
class TokenInfo:
    """A token as lists show it: never the token itself."""

    id: int
    account_id: str
    name: str
    prefix: str
    scopes: tuple[str, ...]
    created_by: str
    revoked: bool


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def validated_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    chosen = tuple(sorted({scope.strip() for scope in scopes if scope.strip()}))
    unknown = [scope for scope in chosen if scope not in SCOPES]
    if unknown or not chosen:
        raise PolicyError(f"scopes must be some of {', '.join(SCOPES)}; got {list(scopes)}")
    return chosen


def create_token(sessions: SessionFactory, clock: Clock, *, account_id: str, name: str,
                 scopes: Iterable[str], actor: str) -> tuple[TokenInfo, str]:
    """Make a token for the account; the plain token is returned here and never again."""
    chosen = validated_scopes(scopes)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction(sessions) as session:
        if session.get(Account, account_id) is None:
            raise NotFound(f"no account {account_id}")
        row = ApiToken(account_id=account_id, name=name, prefix=token[:12],
                       token_hash=digest(token), scopes=",".join(chosen), created_by=actor,
                       created_at=clock.now())
        session.add(row)
        session.flush()
        info = _info(row)
        record_change(session, clock, account_id=account_id, actor=actor, action="token.create",
                      target=f"token:{row.id}",
                      after={"name": name, "prefix": row.prefix, "scopes": list(chosen)})
    return info, token


def revoke_token(sessions: SessionFactory, clock: Clock, *, account_id: str, token_id: int,
                 actor: str) -> None:
    """Revoke one of the account's tokens (another account's answers NotFound)."""
    with transaction(sessions) as session:
        row = session.get(ApiToken, token_id)
        if row is None or row.account_id != account_id:
            raise NotFound(f"no token {token_id} for account {account_id}")
        if row.revoked_at is None:
            row.revoked_at = clock.now()
            record_change(session, clock, account_id=account_id, actor=actor,
                          action="token.revoke", target=f"token:{token_id}",
                          before={"revoked": False}, after={"revoked": True})


def list_tokens(sessions: SessionFactory, *, account_id: str) -> list[TokenInfo]:
    with sessions() as session:
        rows = session.exec(select(ApiToken).where(ApiToken.account_id == account_id)
                            .order_by(ApiToken.id))
        return [_info(row) for row in rows]


def authenticate(sessions: SessionFactory, presented: str) -> Caller | None:
    """The caller a presented token stands for, or None (unknown, malformed or revoked)."""
    if not presented.startswith(TOKEN_PREFIX) or len(presented) > 100:
        return None
    wanted = digest(presented)
    with sessions() as session:
        row = session.exec(select(ApiToken).where(ApiToken.token_hash == wanted)).first()
    # The lookup is by digest; comparing again in constant time costs nothing and keeps the
    # check independent of how the database compares strings.
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.token_hash,
                                                                             wanted):
        return None
    return Caller(row.account_id, row.id, frozenset(row.scopes.split(",")))


def caller_of_token(sessions: SessionFactory, token_id: int) -> Caller | None:
    """The caller a token still stands for, by its id, or None once it is revoked or gone: a
    session that signed in with a token (the dashboard's) asks this on every request."""
    with sessions() as session:
        row = session.get(ApiToken, token_id)
    if row is None or row.revoked_at is not None:
        return None
    return Caller(row.account_id, row.id, frozenset(row.scopes.split(",")))


def _info(row: ApiToken) -> TokenInfo:
    return TokenInfo(row.id, row.account_id, row.name, row.prefix,
                     tuple(row.scopes.split(",")), row.created_by, row.revoked_at is not None)
