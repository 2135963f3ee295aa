"""``/v1/account``, ``/v1/tokens`` and ``/v1/audit``: the caller's own account, its tokens (never
the tokens themselves) and its audit trail. Every answer is scoped to the caller's account."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlmodel import select

from models import Account, AuditEntry
from recovery.accounts.tokens import Caller, list_tokens, revoke_token
from recovery.api.auth import require_read, require_write
from recovery.api.errors import ERROR_RESPONSES
from recovery.errors import NotFound
from recovery.wiring import Services


class AccountOut(BaseModel):
    id: str
    name: str
    livemode: bool
    stripe_account_id: str | None
    created_at: datetime


class TokenOut(BaseModel):
    id: int
    name: str
    prefix: str
    scopes: list[str]
    created_by: str
    revoked: bool


class AuditEntryOut(BaseModel):
    id: int
    actor: str
    action: str
    target: str
    before: dict | None
    after: dict | None
    at: datetime


def build_account_router(services: Services) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["account"], responses=ERROR_RESPONSES)

    @router.get("/account", response_model=AccountOut)
    def read_account(caller: Caller = Depends(require_read)) -> AccountOut:
        with services.sessions() as session:
            account = session.get(Account, caller.account_id)
            if account is None:
                raise NotFound("the token's account no longer exists")
            return AccountOut(id=account.id, name=account.name, livemode=account.livemode,
                              stripe_account_id=account.stripe_account_id,
                              created_at=account.created_at)

    @router.get("/tokens", response_model=list[TokenOut])
    def read_tokens(caller: Caller = Depends(require_read)) -> list[TokenOut]:
        return [TokenOut(id=t.id, name=t.name, prefix=t.prefix, scopes=list(t.scopes),
                         created_by=t.created_by, revoked=t.revoked)
                for t in list_tokens(services.sessions, account_id=caller.account_id)]

    @router.delete("/tokens/{token_id}", status_code=204)
    def delete_token(token_id: int, caller: Caller = Depends(require_write)) -> None:
        revoke_token(services.sessions, services.clock, account_id=caller.account_id,
                     token_id=token_id, actor=caller.actor)

    @router.get("/audit", response_model=list[AuditEntryOut])
    def read_audit(limit: int = Query(100, ge=1, le=1000),
                   caller: Caller = Depends(require_read)) -> list[AuditEntryOut]:
        query = (select(AuditEntry).where(AuditEntry.account_id == caller.account_id)
                 .order_by(AuditEntry.id.desc()).limit(limit))
        with services.sessions() as session:
            return [AuditEntryOut(id=e.id, actor=e.actor, action=e.action, target=e.target,
                                  before=e.before, after=e.after, at=e.at)
                    for e in session.exec(query)]

    return router
